"""Staff users of a firm's console, their single-use tokens, recovery codes and sessions.

Nothing secret is stored as it was given: passwords as argon2id hashes, tokens, session ids and
recovery codes as SHA-256 digests (each has at least 50 random bits and sign-in is rate
limited, so a fast hash is enough), and the TOTP secret encrypted (`portal.staff.totp`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum
from portal.firms.models import Firm


class StaffRole(enum.StrEnum):
    """What a staff user may do: admins also reach users, settings, API keys and webhooks."""

    ADMIN = "admin"
    STAFF = "staff"


class TokenPurpose(enum.StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)


class SessionStage(enum.StrEnum):
    """How far a console session has come: only `signed_in` opens the console's pages."""

    #: Password accepted; the user must now enrol an authenticator (invitation, MFA reset).
    ENROLLING = "enrolling"
    SIGNED_IN = "signed_in"


class StaffUser(Base):
    """A person at a firm who signs in to the console. Belongs to exactly one firm."""

    __tablename__ = "staff_users"
    __table_args__ = (Index("ix_staff_users_firm_id", "firm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: Lower-cased; one account per address across every firm (sign-in asks for no firm).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    #: argon2id hash (argon2-cffi's encoded form); None until the invitation is accepted.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: The TOTP secret, encrypted (portal.staff.totp); None while no authenticator is enrolled.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: A secret offered at enrolment and not yet confirmed with a code (encrypted).
    totp_pending: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: Sign-in failures since the last success or lock; five lock the account.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: When the invitation was accepted (a password and, where required, an authenticator set).
    activated_at: Mapped[dt.datetime | None]
    deactivated_at: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]
    #: The language of the emails the console sends this user (one of
    #: portal.i18n.SUPPORTED_LOCALES, "es_US"); None follows the portal's DEFAULT_LOCALE.
    language: Mapped[str | None] = mapped_column(String(16))

    firm: Mapped[Firm] = relationship()

    @property
    def is_admin(self) -> bool:
        return self.role == StaffRole.ADMIN

    @property
    def has_mfa(self) -> bool:
        return self.totp_secret is not None


class StaffToken(Base):
    """A single-use emailed token: an invitation or a password reset, valid 24 hours."""

    __tablename__ = "staff_tokens"
    __table_args__ = (Index("ix_staff_tokens_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose, "staff_token_purpose"))
    #: Hex SHA-256 of the token in the emailed URL; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime]
    #: Set when the token is used or replaced by a newer one of the same purpose.
    used_at: Mapped[dt.datetime | None]

    user: Mapped[StaffUser] = relationship()


class RecoveryCode(Base):
    """One of ten one-time codes that stand in for the authenticator's code."""

    __tablename__ = "staff_recovery_codes"
    __table_args__ = (Index("ix_staff_recovery_codes_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    #: Hex SHA-256 of the code as shown, lower case without the hyphen.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]


class StaffSession(Base):
    """A console session, server side: the cookie holds a random id; this row its digest.

    Ending a row signs that browser out; ending all of a user's rows signs them out everywhere.
    """

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    #: Hex SHA-256 of the cookie's session id.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[SessionStage] = mapped_column(str_enum(SessionStage, "staff_session_stage"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: Last request seen (kept to a minute): 30 minutes idle ends the session.
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: When the password was last typed in this session (sign-in or "re-enter your password").
    authenticated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[dt.datetime | None]

    user: Mapped[StaffUser] = relationship()
