"""Shared foundation of herald's services: settings, logging, gRPC, storage, time."""
