/* tinkerc plot: a run's learning curves as an SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/cookbook.h"

int tk_cmd_plot(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out, "usage: tinkerc plot LOG_PATH [--out FILE.svg] [--metric NAME ...]\n\n"
                 "Draws the run's metrics.jsonl against step: train and test NLL in one panel, the learning\n"
                 "rate in another (or one panel per --metric). Writes LOG_PATH/curves.svg unless --out is given.\n");
}

int tk_cmd_plot(int argc, char **argv) {
    const char *log = NULL, *out = NULL;
    const char *metrics[33] = {0};
    int nm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "--metric")) && i + 1 < argc) {
            if (argv[i][2] == 'o') out = argv[++i];
            else if (nm < 32) metrics[nm++] = argv[++i];
            else i++;
        } else if (argv[i][0] != '-' && !log) {
            log = argv[i];
        } else {
            fprintf(stderr, "tinkerc plot: unexpected argument \"%s\"\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!log) {
        usage(stderr);
        return 2;
    }
    char *def = out ? NULL : tk_path_join(log, "curves.svg");
    tk_err e = {0};
    int rc = tk_plot_run_svg(log, out ? out : def, nm ? metrics : NULL, &e);
    if (rc) fprintf(stderr, "tinkerc plot: %s\n", e.msg);
    else printf("wrote %s\n", out ? out : def);
    free(def);
    return rc ? 1 : 0;
}
