"""The Salesforce connector (``kind: salesforce``).

``settings`` holds its config and stays light: the config loads it for
every user. simple-salesforce is imported only when a Salesforce source is
created (the registry imports ``connector``): ``connector`` pulls pages,
``auth`` logs in, ``plan`` and ``query`` build the SOQL, ``client`` makes the
retried calls, ``normalise`` turns rows into records, ``link`` keeps each
lead's won date in step with its opportunity.
"""
