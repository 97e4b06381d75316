#!/usr/bin/env python3
"""Turn the worked renderer examples of the cookbook reference (cookbook.md §2.6 and §2.7) into
tests/data/renderers/worked_examples.json, so the C tests can compare against them.

The examples were produced by running the Python cookbook's renderers with a character-level
tokenizer; they are the reference's text, not ours. Usage:

    python3 tests/renderers/extract_worked_examples.py /work/shared/reference/cookbook.md \
        > tests/data/renderers/worked_examples.json
"""
import ast
import json
import re
import sys


def literal(s):
    return ast.literal_eval(s.strip())


def parse_block(lines):
    """Key lines of one ```text block → dict."""
    out = {}
    for line in lines:
        if line.startswith("SFT (LAST_ASSISTANT_MESSAGE): "):
            out["sft_last_message"] = literal(line.split(": ", 1)[1])
        elif line.startswith("SFT (ALL_ASSISTANT_MESSAGES, single example): "):
            out["sft_all_assistant"] = literal(line.split(": ", 1)[1])
        elif line.startswith("SFT: raises"):
            out["sft_raises"] = True
        elif line.startswith("SFT: "):
            out["sft"] = literal(line[len("SFT: "):])
        elif line.startswith("build_supervised_examples(ALL_ASSISTANT_MESSAGES) -> "):
            out["n_examples_all_assistant"] = int(re.search(r"-> (\d+)", line).group(1))
        elif line.startswith("Generation prompt"):
            out["generation_prompt"] = literal(line.split(": ", 1)[1])
        elif line.startswith("Stop: "):
            out["stop"] = literal(line[len("Stop: "):])
        elif line.startswith("Sampled completion: "):
            out["sampled"] = literal(line[len("Sampled completion: "):])
        elif line.startswith("Sampled tool-call turn: "):
            out["sampled_tool_call"] = literal(line[len("Sampled tool-call turn: "):])
        elif line.startswith("parse_response -> "):
            term, msg = line[len("parse_response -> "):].split(" ", 1)
            out["parse_termination"] = term
            out["parse_message"] = json.loads(msg)
        elif line.startswith("NOTE: "):
            out["note"] = line[len("NOTE: "):]
    return out


def main(path):
    text = open(path, encoding="utf-8").read()
    start = text.index("### 2.6 Worked examples")
    end = text.index("### 2.8 How renderers are tested")
    section = text[start:end].splitlines()
    renderers, tools = {}, {}
    current, conv, tool_name = None, None, None
    i = 0
    while i < len(section):
        line = section[i]
        m = re.match(r"#### `(\w+)` — \w+ \(has_extension_property=(True|False)\)", line)
        if m:
            current = renderers.setdefault(m.group(1), {"extension": m.group(2) == "True"})
            tool_name = None
        m = re.match(r"Conversation: \*\*(\w+)\*\*", line)
        if m:
            conv = m.group(1)
        m = re.match(r"\*\*`(\w+)`\*\* \(tool declaration prefix", line)
        if m:
            tool_name = m.group(1)
            current = None
        if line.startswith("```text"):
            j = i + 1
            while not section[j].startswith("```"):
                j += 1
            block = parse_block(section[i + 1 : j])
            if tool_name:
                tools[tool_name] = block
            elif current is not None:
                current[conv] = block
            i = j
        i += 1
    json.dump({"source": "cookbook.md §2.6-2.7", "renderers": renderers, "tools": tools},
              sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
