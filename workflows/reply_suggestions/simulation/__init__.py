"""The reply-suggestions workflow's simulated support desk.

* :mod:`.knowledge_base`: the 40 articles, their facts and their upstream changes
  (``base_articles``, ``articles_on``, ``changed_articles``, ``kb_history``, ``kb_version``);
* :mod:`.incidents`: the injected failures (``Incident``, ``parse_incidents``);
* :mod:`.tickets`: a day's questions with their known relevant articles (``generate_tickets``);
* :mod:`.verdicts`: the agents' verdicts on the served suggestions (``verdicts``);
* :mod:`.source`: all of it in a SQL database (``write_days``, ``write_verdicts`` and readers).

Import graph: ``knowledge_base <- incidents <- tickets <- source``, ``verdicts <- source``.
"""
