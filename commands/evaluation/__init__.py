"""The pilot's evidence: measures, figures, criteria and the evaluation report."""
