#!/usr/bin/env python3
"""Writes tinkerc's example datasets under examples/data/ from templates we wrote ourselves.

    python3 scripts/gen_example_data.py

Deterministic (fixed seed): rerunning reproduces the committed files byte for byte.
  conversations.jsonl   chat SFT data: {"messages": [...]} per line, some with a system prompt,
                        some multi-turn (tinkerc sl, make demo)
  preferences.jsonl     DPO pairs in the cookbook's comparison shape (tinkerc dpo)
  math_problems.jsonl   {"problem", "answer"} with \\boxed{} answers (tinkerc rl env=math)
  gsm8k_style.jsonl     word problems with numeric answers (tinkerc rl env=gsm8k)
"""
import json
import math
import random

rng = random.Random(20261127)

CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"),
    ("Brazil", "Brasília"), ("Egypt", "Cairo"), ("Norway", "Oslo"), ("Peru", "Lima"),
    ("India", "New Delhi"), ("Australia", "Canberra"), ("Mexico", "Mexico City"),
    ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Chile", "Santiago"),
    ("Vietnam", "Hanoi"), ("Ghana", "Accra"), ("Poland", "Warsaw"), ("Turkey", "Ankara"),
    ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Sweden", "Stockholm"), ("Morocco", "Rabat"),
    ("Argentina", "Buenos Aires"), ("Thailand", "Bangkok"), ("Ireland", "Dublin"),
]
WORDS = [
    ("ephemeral", "lasting for a very short time"), ("benevolent", "kind and well meaning"),
    ("meticulous", "showing great attention to detail"), ("candid", "truthful and straightforward"),
    ("resilient", "able to recover quickly from difficulty"), ("frugal", "careful with money"),
    ("verbose", "using more words than needed"), ("lucid", "clear and easy to understand"),
    ("tenacious", "holding firmly to a goal"), ("serene", "calm and peaceful"),
    ("ambiguous", "open to more than one interpretation"), ("diligent", "careful and hard-working"),
    ("obsolete", "no longer in use"), ("pragmatic", "dealing with things sensibly and realistically"),
]
COLORS = {"red": "apples and fire trucks", "green": "grass and leaves", "blue": "the sky and the sea",
          "yellow": "bananas and the sun", "white": "snow and milk", "orange": "carrots and pumpkins"}
SYSTEMS = [
    "You are a helpful assistant. Answer briefly.",
    "You are a concise tutor. Give the answer first, then one short explanation.",
    "You are a friendly assistant who always answers in one sentence.",
]


def arithmetic():
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op = rng.choice(["+", "-", "*"])
    val = {"+": a + b, "-": a - b, "*": a * b}[op]
    word = {"+": "plus", "-": "minus", "*": "times"}[op]
    q = rng.choice([f"What is {a} {op} {b}?", f"Compute {a} {word} {b}.", f"{a} {op} {b} = ?"])
    return [("user", q), ("assistant", f"{a} {op} {b} = {val}.")]


def capital():
    country, city = rng.choice(CAPITALS)
    q = rng.choice([f"What is the capital of {country}?", f"Which city is the capital of {country}?",
                    f"Name the capital city of {country}."])
    return [("user", q), ("assistant", f"The capital of {country} is {city}.")]


def define():
    word, meaning = rng.choice(WORDS)
    q = rng.choice([f"What does \"{word}\" mean?", f"Define the word {word}.", f"Give me the meaning of {word}."])
    return [("user", q), ("assistant", f"\"{word.capitalize()}\" means {meaning}.")]


def convert():
    kind = rng.choice(["km", "kg", "c"])
    if kind == "km":
        x = rng.randint(1, 50)
        return [("user", f"How many meters are in {x} kilometers?"), ("assistant", f"{x} kilometers is {x * 1000} meters.")]
    if kind == "kg":
        x = rng.randint(1, 30)
        return [("user", f"How many grams are in {x} kilograms?"), ("assistant", f"{x} kilograms is {x * 1000} grams.")]
    c = rng.choice(range(-20, 101, 5))
    f = c * 9 / 5 + 32
    f_text = f"{f:g}"
    return [("user", f"Convert {c} degrees Celsius to Fahrenheit."), ("assistant", f"{c} °C is {f_text} °F.")]


def reverse_word():
    w = rng.choice(["planet", "garden", "silver", "rocket", "window", "pencil", "forest", "marble", "candle", "tiger"])
    return [("user", f"Spell \"{w}\" backwards."), ("assistant", f"\"{w}\" backwards is \"{w[::-1]}\".")]


def color():
    c = rng.choice(sorted(COLORS))
    return [("user", f"Name things that are {c}."), ("assistant", f"Things that are often {c}: {COLORS[c]}.")]


def multi_turn():
    country, city = rng.choice(CAPITALS)
    a = rng.randint(2, 20)
    b = rng.randint(2, 20)
    return [("user", f"What is the capital of {country}?"), ("assistant", f"The capital of {country} is {city}."),
            ("user", f"And what is {a} + {b}?"), ("assistant", f"{a} + {b} = {a + b}."),
            ("user", "Thanks!"), ("assistant", "You're welcome!")]


def conversations(n):
    makers = [arithmetic, capital, define, convert, reverse_word, color]
    rows = []
    for i in range(n):
        turns = multi_turn() if i % 9 == 4 else rng.choice(makers)()
        if i % 9 == 4 and rng.random() < 0.5:
            turns = turns[:4]
        msgs = []
        if i % 5 == 0:
            msgs.append({"role": "system", "content": rng.choice(SYSTEMS)})
        msgs += [{"role": r, "content": c} for r, c in turns]
        rows.append({"messages": msgs})
    return rows


def preferences(n):
    rows = []
    for _ in range(n):
        turns = rng.choice([arithmetic, capital, define, convert])()
        prompt = [{"role": "user", "content": turns[0][1]}]
        good = turns[1][1]
        # the rejected answer rambles: DPO should learn to prefer the short, direct one
        bad = good + " " + rng.choice([
            "I hope this helps, and please let me know if you have any other questions at all.",
            "This is a common question and many people ask it, so it is good that you asked.",
            "Let me know if you would like me to explain this in much more detail later on.",
        ])
        if rng.random() < 0.5:
            rows.append({"comparison": {"prompt_conversation": prompt,
                                        "completion_A": [{"role": "assistant", "content": good}],
                                        "completion_B": [{"role": "assistant", "content": bad}]}, "label": "A"})
        else:
            rows.append({"comparison": {"prompt_conversation": prompt,
                                        "completion_A": [{"role": "assistant", "content": bad}],
                                        "completion_B": [{"role": "assistant", "content": good}]}, "label": "B"})
    return rows


def math_problems(n):
    rows = []
    for _ in range(n):
        kind = rng.choice(["lin", "sq", "frac", "sum"])
        if kind == "lin":
            a, x, b = rng.randint(2, 9), rng.randint(-10, 10), rng.randint(-20, 20)
            rows.append({"problem": f"Solve for x: {a}x + {b} = {a * x + b}.", "answer": str(x)})
        elif kind == "sq":
            k = rng.randint(2, 25)
            rows.append({"problem": f"What is the square root of {k * k}?", "answer": str(k)})
        elif kind == "frac":
            a, b = rng.randint(1, 9), rng.randint(2, 9)
            g = math.gcd(a, b)
            p, q = a // g, b // g
            rows.append({"problem": f"Simplify the fraction {a * 6}/{b * 6}.", "answer": f"\\frac{{{p}}}{{{q}}}" if q != 1 else str(p)})
        else:
            k = rng.randint(3, 20)
            rows.append({"problem": f"What is the sum of the integers from 1 to {k}?", "answer": str(k * (k + 1) // 2)})
    return rows


def gsm8k_style(n):
    rows = []
    names = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"]
    items = ["apples", "stickers", "marbles", "books", "pencils", "cookies"]
    for _ in range(n):
        who, what = rng.choice(names), rng.choice(items)
        a, b, c = rng.randint(3, 40), rng.randint(2, 20), rng.randint(1, 9)
        q = (f"{who} has {a} {what}. {who} buys {b} more and then gives away {c}. "
             f"How many {what} does {who} have now?")
        rows.append({"question": q, "answer": f"{who} has {a} + {b} - {c} = {a + b - c} {what}.\n#### {a + b - c}"})
    return rows


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("examples/data/conversations.jsonl", conversations(240))
    write("examples/data/preferences.jsonl", preferences(160))
    write("examples/data/math_problems.jsonl", math_problems(200))
    write("examples/data/gsm8k_style.jsonl", gsm8k_style(200))
