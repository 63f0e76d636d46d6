"""Controlled vocabularies: FBbi imaging methods, NCBI taxonomy, licences."""
