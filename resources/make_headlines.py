"""Write ``headlines.csv``: a small topic-classification corpus of short generated headlines
(sports, technology, cooking, weather), so text models train with no download. Deterministic:
run it again and the file is the same.

    python resources/make_headlines.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

TOPICS = {
    "sports": (["striker", "coach", "league", "referee", "goalkeeper", "marathon", "tennis star", "rookie",
                "captain", "champions"],
               ["scores twice in", "signs with", "is benched before", "wins", "loses", "trains for",
                "celebrates", "is injured during"],
               ["the derby", "the final", "the playoffs", "a record season", "the cup match", "the title race",
                "overtime", "the opening game"]),
    "technology": (["startup", "chip maker", "app", "robot", "search engine", "laptop", "smartphone",
                    "cloud provider", "browser", "satellite"],
                   ["launches", "patches", "recalls", "open-sources", "updates", "leaks", "delays", "unveils"],
                   ["a faster processor", "a security flaw", "new software", "its AI model", "a battery fix",
                    "an encrypted service", "a developer kit", "the beta release"]),
    "cooking": (["chef", "bakery", "home cook", "food critic", "grandmother", "pastry team", "street vendor",
                 "restaurant"],
                ["roasts", "bakes", "simmers", "serves", "seasons", "grills", "perfects", "shares"],
                ["a garlic soup", "sourdough bread", "a lemon tart", "spicy noodles", "slow-cooked stew",
                 "a chocolate cake", "fresh pasta", "a vegetable curry"]),
    "weather": (["storm", "heatwave", "blizzard", "forecast", "hurricane", "cold front", "drought", "fog"],
                ["hits", "sweeps across", "threatens", "brings", "lingers over", "moves toward", "grips",
                 "clears from"],
                ["the coast", "the northern valleys", "record rainfall", "freezing nights", "strong winds",
                 "the mountains", "flood warnings", "a sunny weekend"]),
}
OPENERS = ["", "", "breaking:", "report:", "tonight:", "update:", "watch:"]
PER_TOPIC = 250


def headline(rng: random.Random, topic: str) -> str:
    subjects, verbs, objects = TOPICS[topic]
    words = [rng.choice(OPENERS), rng.choice(subjects), rng.choice(verbs), rng.choice(objects)]
    if rng.random() < 0.15:  # a borrowed word from another topic keeps it from being a lookup table
        other = rng.choice([t for t in TOPICS if t != topic])
        words.append(rng.choice(["after", "despite", "near"]) + " " + rng.choice(TOPICS[other][2]))
    return " ".join(w for w in words if w)


def main() -> None:
    rng = random.Random(20261124)
    rows = [(headline(rng, topic), topic) for topic in TOPICS for _ in range(PER_TOPIC)]
    rng.shuffle(rows)
    with open(Path(__file__).with_name("headlines.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "topic"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
