"""Evaluation on external cohorts: zero-shot, domain shift, few-shot adaptation."""
