"""The audit page (the writer every mutation calls is ``webapp.domain.audit``)."""
