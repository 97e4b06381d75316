/* tinkerc version */
#include <stdio.h>

#ifndef TINKERC_VERSION
#define TINKERC_VERSION "unknown"
#endif

int tk_cmd_version(int argc, char **argv);

int tk_cmd_version(int argc, char **argv) {
    printf("tinkerc %s\n", TINKERC_VERSION);
    return 0;
}
