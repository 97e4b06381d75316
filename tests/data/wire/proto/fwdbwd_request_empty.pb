"dro*
betaš™™™™™©?