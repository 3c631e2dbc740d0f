"""The HubSpot connector (``kind: hubspot``).

``settings`` holds its config and stays light: the config loads it for
every user. The client library is imported only when a HubSpot source is
created (the registry imports ``connector``): ``connector`` pulls pages,
``client`` makes the paced, retried calls, ``normalise`` turns API JSON into
records.
"""
