"""Demo data for ``make run``: two teams, the documented sign-ins and caseloads worth a look."""
