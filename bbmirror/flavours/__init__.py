"""Flavours: one package per Bitbucket product (`cloud`, `server`), each a plug-in."""
