"""A run's configuration: plain data, checked once, read and written as TOML.

- :mod:`~mfcomm.config.fields`: the :class:`~mfcomm.config.fields.Config` dataclass, each field declared once
  with its default, range, choices, command-line flag and help;
- :mod:`~mfcomm.config.option`: how a field is declared (:func:`~mfcomm.config.option.option`), and the caps of
  the ranges;
- :mod:`~mfcomm.config.checks`: the checks (ranges, choices, fields that constrain each other);
- :mod:`~mfcomm.config.files`: building a config from defaults, a TOML file and overrides, and writing it back;
- :mod:`~mfcomm.config.recipes`: the bits task's defaults and the paper's recipe;
- :mod:`~mfcomm.config.memory`: what a configuration needs in memory before training starts.
"""
