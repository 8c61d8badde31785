"""Simulators of the external systems we cannot reach (Softmedia today; SMS, WhatsApp, payment gateway, e-sign,
bureau, KYC and the dialer next): real HTTP servers on loopback for the demo and the tests, one pattern for all
(`base.Simulator`). Product code never imports this package; an import-linter contract keeps it so."""
