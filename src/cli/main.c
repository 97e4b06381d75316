/* tinkerc: dispatch to a subcommand. Argument parsing for each command lives in its own file. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinkerc/base.h"
#include "tinkerc/local.h"

static void usage(FILE *out) {
    fprintf(out, "usage: tinkerc <command> [arguments]\n\ncommands:\n");
    for (int i = 0; i < tk_cli_n_commands; i++)
        fprintf(out, "  %-12s %s\n", tk_cli_commands[i].name, tk_cli_commands[i].summary);
    fprintf(out, "\nRun 'tinkerc <command> --help' for a command's options.\n");
}

/* OpenMP worker threads that spin between parallel regions take the cores away from the HTTP
 * and I/O threads that share this process (the embedded server and the client): measured 3x
 * slower steps on 2 cores. libgomp reads its wait policy when it loads, before main runs, so set
 * it and execute ourselves again once. A user's own OMP_WAIT_POLICY is left alone. */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  /* on failure, carry on with libgomp's default */
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) argv[1] = "version";
    /* local mode: with no TINKER_API_KEY / TINKER_BASE_URL (or base_url=local) the commands'
     * clients start the embedded server (tinkerc/local.h); nothing starts until one asks */
    tk_local_register(NULL, NULL);
    for (int i = 0; i < tk_cli_n_commands; i++)
        if (!strcmp(argv[1], tk_cli_commands[i].name)) return tk_cli_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tinkerc: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
