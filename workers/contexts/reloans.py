"""Re-loan offers (issue #15 item 5): made on closure by the `reloan-offers` job when the brand automates re-loans,
listed by status, accepted (an application is started), rejected or cancelled - by staff, or by the borrower on the
borrower API (api/routes/borrower_reloans.py) and the web flow's status page."""

from __future__ import annotations

from api.pages import reloans as pages
from api.routes import borrower_reloans
from api.routes import reloans as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import ReloanOffer
from projections.reloans import ReloanOfferQueries, ReloanOfferView
from workers import reloan_jobs
from workers.bounded_context import BoundedContext, Job

CONTEXT = BoundedContext(
    application=ReloanOffers,
    queries=(ReloanOfferQueries,),
    projections=(ReloanOfferView(),),
    endpoints=(*routes.ENDPOINTS, *borrower_reloans.ENDPOINTS),
    pages=pages.PAGES,
    nav=(NavItem("Re-loans", "/reloan-offers", "reloans", Permission.LOANS, 29),),
    jobs=(Job(reloan_jobs.DEFINITION, reloan_jobs.run, reloan_jobs.ReloanJobPort),),
    audited=(ReloanOffer,),
)
