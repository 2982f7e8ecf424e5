"""Step-by-step lessons with a checker, like rustlings for Kafka.

``lessons`` parses ``tutorials/NN-slug.md`` (Markdown with YAML front matter) and renders it for
the learner (commands fitted to the terminal, new terminals told what to type), ``checks``
judges a lesson's exercise on the store's state, ``progress`` remembers where the learner is
(by lesson slug), ``terminal`` knows what a new terminal needs and which store a lesson was
opened on, ``course`` ties them together for ``kcli learn``, ``watch`` judges the current
lesson again whenever the store changes (``kcli learn watch``), and ``runner`` executes a
lesson's commands, as copied from the screen, for the test suite.
"""
