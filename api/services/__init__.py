"""Application services whose use cases span contexts: each step calls another context's application or reads a
read model, so they cannot live in the (pure) domain, and they are not HTTP - endpoints, portal pages, slot firers
and the demo all reach them through their ports (a service is itself a port: a frozen dataclass of what it uses,
filled by the platform by type)."""
