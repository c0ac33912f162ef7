"""REST API v1: users (read; create for admins) and the caller's own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sportello.accounts import actions, service
from sportello.accounts.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    SecurityPolicyRead,
    SecurityPolicyUpdate,
    UserCreate,
    UserRead,
)
from sportello.core.db import SessionDep
from sportello.core.errors import PermissionDenied
from sportello.web.api import (
    AdminCaller,
    ReadCaller,
    WriteCaller,
    api_router,
    problem_response,
)

router = APIRouter()
users = api_router("users")
tokens = api_router("tokens")
security = api_router("security")


@users.get("/users", summary="List users", response_model=list[UserRead])
def list_users(session: SessionDep, caller: ReadCaller) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in service.get_all_users(session)]


@users.get("/users/me", summary="The caller", response_model=UserRead)
def get_me(caller: ReadCaller) -> UserRead:
    return UserRead.model_validate(caller.user)


@users.get("/users/{user_id}", summary="Get a user", response_model=UserRead)
def get_user(user_id: int, session: SessionDep, caller: ReadCaller) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id))


@users.post(
    "/users",
    summary="Create a user (admins)",
    status_code=201,
    response_model=UserRead,
    responses={409: problem_response("A user with this email exists")},
)
def create_user(body: UserCreate, session: SessionDep, caller: AdminCaller) -> UserRead:
    user = actions.do_create_user(
        session,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        language=body.language,
        timezone=body.timezone,
        teams=service.get_teams(session, body.team_ids),
    )
    return UserRead.model_validate(user)


@tokens.get("/tokens", summary="The caller's API tokens", response_model=list[ApiTokenRead])
def list_tokens(session: SessionDep, caller: ReadCaller) -> list[ApiTokenRead]:
    return [ApiTokenRead.model_validate(t) for t in service.api_tokens_of(session, caller.user)]


@tokens.post(
    "/tokens",
    summary="Create an API token for the caller; the token is shown once",
    status_code=201,
    response_model=ApiTokenCreated,
)
def create_token(body: ApiTokenCreate, session: SessionDep, caller: WriteCaller) -> ApiTokenCreated:
    if "admin" not in caller.scopes and not set(body.scopes) <= caller.scopes:
        # A token cannot mint a token stronger than itself.
        raise PermissionDenied("a token cannot grant scopes it does not have itself")
    row, token = actions.do_create_api_token(
        session, user=caller.user, name=body.name, scopes=body.scopes
    )
    return ApiTokenCreated(**ApiTokenRead.model_validate(row).model_dump(), token=token)


@tokens.delete(
    "/tokens/{token_id}",
    summary="Revoke one of the caller's API tokens",
    status_code=204,
    response_class=Response,
)
def revoke_token(token_id: int, session: SessionDep, caller: WriteCaller) -> Response:
    token = service.access_api_token(session, caller.user, token_id)
    actions.do_revoke_api_token(session, token=token)
    return Response(status_code=204)


@security.get(
    "/security/policy", summary="Sign-in rules (admins)", response_model=SecurityPolicyRead
)
def get_policy(session: SessionDep, caller: AdminCaller) -> SecurityPolicyRead:
    return SecurityPolicyRead(two_factor_roles=service.two_factor_roles(session))


@security.put(
    "/security/policy",
    summary="Change the sign-in rules (admins)",
    response_model=SecurityPolicyRead,
)
def set_policy(
    body: SecurityPolicyUpdate, session: SessionDep, caller: AdminCaller
) -> SecurityPolicyRead:
    policy = actions.do_set_security_policy(
        session, two_factor_roles=[role.value for role in body.two_factor_roles]
    )
    return SecurityPolicyRead(two_factor_roles=policy.two_factor_roles)


@users.post(
    "/users/{user_id}/two-factor/reset",
    summary="Switch off a user's second factor (admins; for a lost phone)",
    response_model=UserRead,
)
def reset_two_factor(user_id: int, session: SessionDep, caller: AdminCaller) -> UserRead:
    user = service.get_user(session, user_id)
    actions.do_reset_two_factor(session, user=user)
    return UserRead.model_validate(user)


router.include_router(users)
router.include_router(tokens)
router.include_router(security)
