/* The tinkerc subcommands. Each lives in its own cmd_<name>.c and is listed in commands.c.
 * A command gets argv after the subcommand name (argv[0] is the subcommand) and returns the
 * process exit status: 0 success, 1 failure (message already printed), 2 usage error. */
#ifndef TK_CLI_COMMANDS_H
#define TK_CLI_COMMANDS_H

typedef struct tk_cli_command {
    const char *name;
    const char *summary;   /* one line for `tinkerc help` */
    int (*run)(int argc, char **argv);
} tk_cli_command;

extern const tk_cli_command tk_cli_commands[];
extern const int tk_cli_n_commands;

#endif
