"""HTTP clients of the external providers (docs/providers.md): one module per service, all over `ProviderHttp`
(timeouts, bounded retries, the outbound call log), chosen through `ProviderDirectory`."""
