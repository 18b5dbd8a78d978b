"""The CDN part's backend: CloudFront invalidations after the switch (runbook 002).

Not a platform: any service may have a ``[services.cdn]`` table, and the
flow appends the invalidation to its plans (``console.cdn_flow``), which
reaches this package through the registry (``providers.load_cdn``).  boto3
is imported on first use, through the console's one AWS client factory.
"""

from __future__ import annotations

from providers.cdn.cloudfront import INVALIDATE, CloudFrontInvalidations, Invalidation

__all__ = ["INVALIDATE", "CloudFrontInvalidations", "Invalidation"]
