/* The table of subcommands: add one line per command (keep alphabetical). */
#include "commands.h"

#include <stddef.h>

int tk_cmd_chat(int argc, char **argv);
int tk_cmd_dpo(int argc, char **argv);
int tk_cmd_export(int argc, char **argv);
int tk_cmd_model(int argc, char **argv);
int tk_cmd_plot(int argc, char **argv);
int tk_cmd_render(int argc, char **argv);
int tk_cmd_rl(int argc, char **argv);
int tk_cmd_rm(int argc, char **argv);
int tk_cmd_sample(int argc, char **argv);
int tk_cmd_serve(int argc, char **argv);
int tk_cmd_sl(int argc, char **argv);
int tk_cmd_tokenize(int argc, char **argv);
int tk_cmd_version(int argc, char **argv);

const tk_cli_command tk_cli_commands[] = {
    {"chat", "talk to saved sampler weights through their renderer, turn by turn", tk_cmd_chat},
    {"dpo", "preference tuning (DPO) on a JSONL file of comparisons", tk_cmd_dpo},
    {"export", "write an adapter as a PEFT adapter, or merged into its base model", tk_cmd_export},
    {"model", "create local models (model init: a seeded random HF model)", tk_cmd_model},
    {"plot", "a run's learning curves (metrics.jsonl) as an SVG", tk_cmd_plot},
    {"render", "show a renderer's tokens and trained spans for a conversation", tk_cmd_render},
    {"rl", "reinforcement learning on an environment (arithmetic, math, gsm8k, guess_number)", tk_cmd_rl},
    {"rm", "a pairwise reward model (preference model) on a JSONL file of comparisons", tk_cmd_rm},
    {"sample", "generate from a local model (and adapter) on the engine", tk_cmd_sample},
    {"serve", "serve the Tinker API on this machine", tk_cmd_serve},
    {"sl", "supervised fine-tuning on a JSONL file of conversations", tk_cmd_sl},
    {"tokenize", "text to token ids and back with a model's tokenizer", tk_cmd_tokenize},
    {"version", "print the tinkerc version", tk_cmd_version},
};
const int tk_cli_n_commands = (int)(sizeof tk_cli_commands / sizeof tk_cli_commands[0]);
