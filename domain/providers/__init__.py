"""Providers: the contracts of the external services (SMS, KYC, bureau, bank data, e-sign, payments) the product calls.

Pure values and protocols only; the HTTP clients are in `adapters.providers`, the simulators in
`adapters.simulators`. A use case names the protocol it needs (`PanVerifier`), so its tests can pass a fake.
"""
