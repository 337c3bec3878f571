"""Writes: every change to the platform's state goes through a function here (keyword-only,
``<entity>_<action>``), never through serializers or signals."""
