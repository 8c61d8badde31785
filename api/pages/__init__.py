"""The portal's pages, one module per bounded context (the shell - rendering, sign-in, navigation - is api.web)."""
