"""Mail delivery behind the ``Mailer`` port: an SMTP client (``smtp.py``)."""
