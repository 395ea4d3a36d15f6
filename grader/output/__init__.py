"""What grading shows: the terminal report, results.json, the first failure explained."""
