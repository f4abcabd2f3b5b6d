#!/usr/bin/env python3
"""Writes the support-ticket triage datasets beside this file, deterministically (stdlib only).

  tickets-train.jsonl       chat format, the training set
  tickets-eval.jsonl        chat format, held out: no ticket text also appears in the training set
  tickets-preference.jsonl  preference format (prompt, chosen, rejected), for DPO / ORPO

Each ticket is an opener, a category-specific body built from a template and slot values, and a
closer, so held-out items share the vocabulary of the task but are never copies. The eval set also
uses body templates the training set never sees, so a model must learn the category words rather
than memorise sentences.

Run: python3 examples/local/data/generate_tickets.py  (rewrites the three files; same bytes each run)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240611
TRAIN_SIZE = 400
EVAL_SIZE = 40
PREFERENCE_SIZE = 120

CATEGORIES = ("billing", "bug", "account", "feature")
SYSTEM = "Classify the support ticket as billing, bug, account or feature. Answer with one word."

SLOTS: dict[str, list[str]] = {
    "amount": ["$12", "$49", "$99", "$240", "€30", "£15", "$7.50", "$1,200"],
    "month": ["March", "April", "last month", "this month", "January", "October"],
    "plan": ["Pro plan", "Team plan", "annual plan", "monthly plan", "Enterprise plan"],
    "payment": ["credit card", "PayPal", "bank transfer", "debit card", "invoice"],
    "screen": ["dashboard", "settings page", "export dialog", "search page", "mobile app"],
    "action": ["click save", "upload a file", "open a report", "sort the table", "log out"],
    "error": ["a 500 error", "a blank screen", "an endless spinner", "a crash", "error code E42"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge", "the iOS app", "the Android app"],
    "thing": ["password", "email address", "two-factor login", "username", "profile"],
    "wish": ["dark mode", "a CSV export", "Slack integration", "keyboard shortcuts",
             "a calendar view", "bulk editing", "an API for reports", "custom fields"],
    "team": ["our team", "my manager", "our sales staff", "the whole company", "our admins"],
}

# Body templates per category. The last two of each list are used only for the eval set.
BODIES: dict[str, list[str]] = {
    "billing": [
        "I was charged {amount} twice for the {plan} in {month}.",
        "Please refund the {amount} charge on my {payment}.",
        "My invoice for {month} shows {amount} but the {plan} should cost less.",
        "The payment with my {payment} failed and now the {plan} is unpaid.",
        "Why did my bill go up to {amount} in {month}?",
        "I cancelled the {plan} but was still billed {amount}.",
        "Can I get a receipt for the {amount} payment by {payment}?",
        "The price of the {plan} changed and I was overcharged {amount}.",
        "There is an unexpected charge of {amount} on my {payment} statement from {month}.",
        "I need a refund: the {plan} renewal took {amount} without asking.",
    ],
    "bug": [
        "When I {action} on the {screen} I get {error}.",
        "The {screen} shows {error} in {browser}.",
        "Since the update, trying to {action} causes {error}.",
        "The {screen} is broken in {browser}: nothing happens when I {action}.",
        "I see {error} every time I open the {screen}.",
        "The {screen} freezes and then shows {error} when I {action}.",
        "In {browser} the {screen} does not load, just {error}.",
        "Bug report: {error} after I {action} in {browser}.",
        "The {screen} stopped working in {browser} and shows {error}.",
        "Whenever I {action}, the app fails with {error} on the {screen}.",
    ],
    "account": [
        "I cannot log in because I forgot my {thing}.",
        "Please help me change the {thing} on my account.",
        "My account is locked after resetting my {thing}.",
        "How do I reset my {thing}? The login link expired.",
        "I want to delete my account and my {thing}.",
        "Someone else changed my {thing} and I lost access to my account.",
        "Can you merge my two accounts? They use a different {thing}.",
        "I need to update the {thing} for my login.",
        "My login fails since I changed my {thing}; please unlock my account.",
        "Please transfer my account to a new {thing}, I cannot sign in.",
    ],
    "feature": [
        "It would be great to have {wish} for {team}.",
        "Feature request: please add {wish}.",
        "Do you plan to support {wish}? {team} would use it daily.",
        "Could you build {wish} into the {screen}?",
        "We would love {wish}; {team} keeps asking for it.",
        "Suggestion: add {wish} to make the {screen} easier.",
        "Is {wish} on the roadmap? It would help {team}.",
        "Please consider adding {wish} in a future release.",
        "Idea for the product: {wish} for {team} would save hours.",
        "Would you add {wish}? It is the one thing {team} misses.",
    ],
}
EVAL_ONLY = 2

OPENERS = ["", "Hi,", "Hello team,", "Hey,", "Good morning,", "Dear support,", "Hi there,"]
CLOSERS = ["", "Thanks.", "Thank you!", "Regards, Sam", "Please help.", "Cheers, Alex", "Urgent."]


def fill(template: str, rng: random.Random) -> str:
    values = {name: rng.choice(options) for name, options in SLOTS.items()}
    return template.format(**values)


def ticket(category: str, bodies: list[str], rng: random.Random) -> str:
    parts = [rng.choice(OPENERS), fill(rng.choice(bodies), rng), rng.choice(CLOSERS)]
    return " ".join(part for part in parts if part)


def chat(text: str, category: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": text},
            {"role": "assistant", "content": category},
        ]
    }


def generate(size: int, rng: random.Random, *, held_out: bool, seen: set[str]) -> list[dict]:
    rows: list[dict] = []
    while len(rows) < size:
        category = CATEGORIES[len(rows) % len(CATEGORIES)]
        bodies = BODIES[category]
        pool = bodies[-EVAL_ONLY:] + bodies[:2] if held_out else bodies[:-EVAL_ONLY]
        text = ticket(category, pool, rng)
        if text in seen:
            continue
        seen.add(text)
        rows.append(chat(text, category))
    rng.shuffle(rows)
    return rows


def preference(rows: list[dict], rng: random.Random) -> list[dict]:
    out = []
    for row in rows:
        system, user, answer = row["messages"]
        wrong = rng.choice([c for c in CATEGORIES if c != answer["content"]])
        out.append(
            {
                "prompt": [system, user],
                "chosen": [answer],
                "rejected": [{"role": "assistant", "content": wrong}],
            }
        )
    return out


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    here = Path(__file__).resolve().parent
    rng = random.Random(SEED)
    seen: set[str] = set()
    train = generate(TRAIN_SIZE, rng, held_out=False, seen=seen)
    held_out = generate(EVAL_SIZE, rng, held_out=True, seen=seen)
    write(here / "tickets-train.jsonl", train)
    write(here / "tickets-eval.jsonl", held_out)
    write(here / "tickets-preference.jsonl", preference(train[:PREFERENCE_SIZE], rng))
    print(f"wrote {len(train)} train, {len(held_out)} eval, {PREFERENCE_SIZE} preference rows")


if __name__ == "__main__":
    main()
