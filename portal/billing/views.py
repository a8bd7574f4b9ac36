"""The client's pages: their matters, and per matter the invoices and the trust balance."""

from flask import Blueprint

bp = Blueprint("billing", __name__)
