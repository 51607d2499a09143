"""The parts of eval/sets/generator.py, one job each; nothing here may be used for training (../README.md).

evalset: the result types. relations (+ relations.json): what can be said about each subject kind.
vocabulary: names and word lists. pools: the names and values one set draws from. render: memory text.
memories: subjects and memories, with the fact registry. questions: answerable and absent questions.
checks: the self-checks against the text. chains (+ chainbuild, chaintext, chains.json): multi-hop chains.
"""
