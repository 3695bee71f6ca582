"""Evidence stores: the EvidenceStore interface, LocalStore and S3Store (see the evidence issue)."""
