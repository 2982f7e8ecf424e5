"""Step-by-step lessons with a checker, like rustlings for Kafka.

``lessons`` parses ``tutorials/NN-slug.md`` (Markdown with YAML front matter), ``checks``
judges a lesson's exercise on the store's state, ``progress`` remembers where the learner is,
``course`` ties them together for ``kcli learn``, and ``runner`` executes a lesson's commands
for the test suite.
"""
