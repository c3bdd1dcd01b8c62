"""Reports for sponsors and monitors, per study: visit compliance (counted in SQL over
the visit rows) and endpoint completeness (computed per subject, in batches, since
endpoint windows are not stored). Both are limited to what the actor may see.
"""
