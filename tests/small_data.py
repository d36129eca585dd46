"""Eight hand-written sentences the tiny model can memorise, shared by the trainer tests."""
SMALL = [
    ("John visited Paris .", "B-PER O B-LOC O"),
    ("Mary met Smith in London .", "B-PER O B-PER O B-LOC O"),
    ("The bank said prices rose .", "O B-ORG O O O O"),
    ("Berlin won the market report .", "B-ORG O O O O O"),
    ("He went to Berlin on Monday .", "O O O B-LOC O O O"),
    ("Paris Smith announced news .", "B-PER I-PER O O O"),
    ("the company told police .", "O O O O O"),
    ("London Bank lost two teams .", "B-ORG I-ORG O O O O"),
]
WORDS = [s.split() for s, _ in SMALL]
TAGS = [t.split() for _, t in SMALL]
DATASET = [{"words": w, "tags": t} for w, t in zip(WORDS, TAGS)] * 4  # 32 sentences: 4 batches of 8
