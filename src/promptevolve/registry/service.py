"""The prompt registry: immutable variants, their state, and the audit trail of every change.

Every public method is one transaction. Writes lock the prompt's row first (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction already holds the database's write lock from ``BEGIN
IMMEDIATE``), so checks such as "active shares sum to at most 100 %" hold when several processes change
the same prompt at once. A refused change raises before anything is flushed, and the transaction rolls
back: nothing is half-written.
"""

from __future__ import annotations

import difflib
import getpass
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from promptevolve.core.errors import (
    DuplicateVersionError,
    NotFoundError,
    TrafficShareError,
    ValidationError,
)
from promptevolve.core.hashing import canonical_json, sha256_hex
from promptevolve.core.storable import check_storable
from promptevolve.core.types import ModelSettings, TemplateKind, VariantKind
from promptevolve.registry.models import (
    LABEL_PATTERN,
    AuditRecord,
    LineageNode,
    PromptSummary,
    RegisterResult,
    VariantCreate,
    VariantDiff,
    VariantInfo,
)
from promptevolve.registry.serving import unknown_prompt
from promptevolve.registry.versioning import bump_kind, next_free_version, parse_version
from promptevolve.scoring import ScoringConfig
from promptevolve.store.engine import Store
from promptevolve.store.tables import (
    AuditEntry,
    Prompt,
    PromptLabel,
    PromptVariant,
    VariantState,
    utcnow,
)
from promptevolve.templates import parse_template, template_to_json, vet_template

__all__ = ["FULL_SHARE_BP", "Registry"]

FULL_SHARE_BP = 10_000


def _bp(percent: float) -> int:
    if not 0.0 <= percent <= 100.0:
        raise TrafficShareError(f"a traffic share must be between 0 and 100 %, got {percent}")
    return round(percent * 100)


def _pct(bp: int) -> float:
    return bp / 100.0


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"


class Registry:
    """Prompts and their variants. ``on_change`` is called with a prompt name after each state change
    (the SDK's cache uses it to invalidate)."""

    def __init__(
        self,
        store: Store,
        *,
        actor: str | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.actor = actor or default_actor()
        self._on_change = on_change

    # --- reads -------------------------------------------------------------------------------------

    def list_prompts(self) -> list[PromptSummary]:
        with self.store.read() as s:
            prompts = s.scalars(select(Prompt).order_by(Prompt.name)).all()
            return [self._summary(s, p) for p in prompts]

    def get_prompt(self, name: str) -> PromptSummary:
        with self.store.read() as s:
            return self._summary(s, self._prompt(s, name))

    def get_config(self, name: str) -> dict[str, Any]:
        """A prompt's configuration (score weights, autopilot policy, …): what ``update_config`` merged."""
        with self.store.read() as s:
            return dict(self._prompt(s, name).config or {})

    def configs(self) -> list[tuple[str, dict[str, Any]]]:
        """Every prompt's name and configuration, by name."""
        with self.store.read() as s:
            rows = s.execute(select(Prompt.name, Prompt.config).order_by(Prompt.name)).all()
        return [(name, dict(config or {})) for name, config in rows]

    def list_variants(self, name: str) -> list[VariantInfo]:
        with self.store.read() as s:
            prompt = self._prompt(s, name)
            rows = s.scalars(select(PromptVariant).where(PromptVariant.prompt_id == prompt.id)).all()
            infos = [self._info(s, prompt, v) for v in rows]
            return sorted(infos, key=lambda i: parse_version(i.version).sort_key())

    def get_variant(self, name: str, version: str | None = None, *, label: str | None = None) -> VariantInfo:
        """A version, or the variant a label points at, or (neither given) the serving variant."""
        with self.store.read() as s:
            prompt = self._prompt(s, name)
            if version is not None:
                variant = self._variant(s, prompt, version)
            elif label is not None:
                variant = self._labelled(s, prompt, label)
            else:
                variant = self._serving(s, prompt)
            return self._info(s, prompt, variant)

    def get_variant_by_id(self, variant_id: int) -> VariantInfo:
        with self.store.read() as s:
            variant = s.get(PromptVariant, variant_id)
            if variant is None:
                raise NotFoundError(f"no variant with id {variant_id}")
            return self._info(s, s.get_one(Prompt, variant.prompt_id), variant)

    def history(self, name: str, *, limit: int = 100) -> list[AuditRecord]:
        with self.store.read() as s:
            prompt = self._prompt(s, name)
            rows = s.execute(
                select(AuditEntry, PromptVariant.version)
                .outerjoin(PromptVariant, PromptVariant.id == AuditEntry.variant_id)
                .where(AuditEntry.prompt_id == prompt.id)
                .order_by(AuditEntry.id.desc())
                .limit(limit)
            ).all()
            return [
                AuditRecord(
                    id=e.id,
                    prompt=name,
                    version=version,
                    action=e.action,
                    actor=e.actor,
                    reason=e.reason,
                    before=e.before,
                    after=e.after,
                    at=e.at,
                )
                for e, version in rows
            ]

    def lineage(self, name: str, version: str | None = None) -> tuple[list[str], list[LineageNode]]:
        """(ancestors of ``version`` oldest first, the tree below it); no version → the whole forest."""
        with self.store.read() as s:
            prompt = self._prompt(s, name)
            variants = s.scalars(select(PromptVariant).where(PromptVariant.prompt_id == prompt.id)).all()
            states = self._states(s, prompt.id)
        by_id = {v.id: v for v in variants}
        children: dict[int | None, list[PromptVariant]] = {}
        for v in variants:
            children.setdefault(v.parent_id, []).append(v)

        def node(v: PromptVariant) -> LineageNode:
            kids = sorted(children.get(v.id, []), key=lambda c: parse_version(c.version).sort_key())
            score = v.meta.get("test_score") if isinstance(v.meta, dict) else None
            return LineageNode(
                version=v.version,
                kind=VariantKind(v.kind),
                strategy=v.strategy,
                rationale=v.rationale,
                active=states.get(v.id, (False, 0))[0],
                score=score,
                children=[node(c) for c in kids],
            )

        if version is None:
            roots = sorted(children.get(None, []), key=lambda c: parse_version(c.version).sort_key())
            return [], [node(r) for r in roots]
        target = next((v for v in variants if v.version == version), None)
        if target is None:
            raise NotFoundError(f"prompt {name!r} has no version {version}")
        ancestors: list[str] = []
        cursor = by_id.get(target.parent_id) if target.parent_id else None
        while cursor is not None:
            ancestors.append(cursor.version)
            cursor = by_id.get(cursor.parent_id) if cursor.parent_id else None
        return list(reversed(ancestors)), [node(target)]

    def diff(self, name: str, from_version: str, to_version: str) -> VariantDiff:
        a = self.get_variant(name, from_version)
        b = self.get_variant(name, to_version)
        text_a, text_b = _template_text(a.template), _template_text(b.template)
        lines = difflib.unified_diff(
            text_a.splitlines(keepends=True),
            text_b.splitlines(keepends=True),
            fromfile=f"{name}@{a.version}",
            tofile=f"{name}@{b.version}",
        )
        sa, sb = a.settings.model_dump(), b.settings.model_dump()
        changed = {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}
        return VariantDiff(
            prompt=name,
            from_version=a.version,
            to_version=b.version,
            template_diff="".join(lines),
            variables_added=sorted(set(b.variables) - set(a.variables)),
            variables_removed=sorted(set(a.variables) - set(b.variables)),
            settings_changed=changed,
            kind=(a.kind.value, b.kind.value),
        )

    # --- registration ------------------------------------------------------------------------------

    def register(self, request: VariantCreate, *, actor: str | None = None) -> RegisterResult:
        """Register a variant; identical content returns the existing variant (``created=False``)."""
        parsed = parse_template(request.template)
        vet_template(parsed)  # what can never render safely is refused here, with the reason, not per call
        template = template_to_json(parsed)
        settings = request.settings.model_dump(mode="json")
        check_storable("prompt_variants.settings", settings)  # hashed before the store's own check
        content_hash = sha256_hex(
            canonical_json({"template_kind": parsed.kind.value, "template": template, "settings": settings})
        )
        explicit = parse_version(request.version) if request.version is not None else None
        who = actor or request.author or self.actor
        with self.store.write() as s:
            prompt = self._lock_or_create_prompt(s, request, who)
            existing = s.scalar(
                select(PromptVariant).where(
                    PromptVariant.prompt_id == prompt.id, PromptVariant.content_hash == content_hash
                )
            )
            if existing is not None:
                return RegisterResult(variant=self._info(s, prompt, existing), created=False)
            siblings = s.scalars(select(PromptVariant).where(PromptVariant.prompt_id == prompt.id)).all()
            parent = self._parent_for(s, prompt, request.parent, siblings)
            taken = [parse_version(v.version) for v in siblings]
            if explicit is not None:
                if any(str(t) == str(explicit) for t in taken):
                    raise DuplicateVersionError(
                        f"{prompt.name}@{explicit} already exists with different content; a version never "
                        "changes: choose a new version or omit it to bump automatically"
                    )
                version = explicit
            elif parent is None:
                version = parse_version("1.0.0")
            else:
                bump = bump_kind(
                    variables_changed=sorted(parent.variables) != list(parsed.variables),
                    template_changed=parent.template != template or parent.template_kind != parsed.kind,
                    settings_changed=parent.settings != settings,
                )
                assert bump is not None, "identical content was caught by its hash"
                version = next_free_version(parse_version(parent.version), bump, taken)
            kind = request.kind or (VariantKind.BASELINE if not siblings else VariantKind.OPTIMIZED)
            variant = PromptVariant(
                prompt_id=prompt.id,
                version=str(version),
                major=version.major,
                minor=version.minor,
                patch=version.patch,
                variant_key=content_hash[:12],
                content_hash=content_hash,
                kind=kind.value,
                template_kind=parsed.kind.value,
                template=template,
                variables=list(parsed.variables),
                settings=settings,
                strategy=request.strategy,
                parent_id=parent.id if parent else None,
                rationale=request.rationale,
                meta=request.meta,
                created_by=who,
            )
            s.add(variant)
            s.flush()
            s.add(
                VariantState(
                    variant_id=variant.id, prompt_id=prompt.id, active=False, share_bp=0, updated_by=who
                )
            )
            self._audit(
                s,
                prompt,
                variant,
                "register",
                who,
                None,
                None,
                {"version": variant.version, "kind": kind.value, "parent": parent and parent.version},
            )
            s.flush()
            return RegisterResult(variant=self._info(s, prompt, variant), created=True)

    # --- state changes -----------------------------------------------------------------------------

    def activate(
        self,
        name: str,
        version: str,
        *,
        share: float | None = None,
        exclusive: bool = False,
        actor: str | None = None,
        reason: str | None = None,
    ) -> VariantInfo:
        """Make a variant serve. ``exclusive`` deactivates every other variant in the same change.

        Without ``share``: 100 % when the variant will be the only one active; otherwise the caller
        must say what share it takes, since shares of active variants never sum past 100 %.
        """
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            target = self._variant(s, prompt, version)
            states = {
                st.variant_id: st
                for st in s.scalars(select(VariantState).where(VariantState.prompt_id == prompt.id))
            }
            others = {vid: st for vid, st in states.items() if vid != target.id and st.active}
            if exclusive:
                for vid, st in others.items():
                    self._set_state(
                        s, prompt, s.get_one(PromptVariant, vid), st, False, 0, who, reason, "deactivate"
                    )
                new_bp = FULL_SHARE_BP if share is None else _bp(share)
            elif share is None:
                if others:
                    listing = ", ".join(
                        f"{s.get_one(PromptVariant, vid).version} at {_pct(st.share_bp):g} %"
                        for vid, st in others.items()
                    )
                    raise TrafficShareError(
                        f"other variants of {name!r} are active ({listing}): give a share, or activate "
                        f"{version} exclusively"
                    )
                new_bp = FULL_SHARE_BP
            else:
                new_bp = _bp(share)
                if new_bp == 0:
                    raise TrafficShareError(
                        f"cannot activate {name}@{version} at 0 %: give a share above 0, or deactivate it"
                    )
                self._check_total(name, {vid: st.share_bp for vid, st in others.items()}, new_bp, version)
            self._set_state(s, prompt, target, states[target.id], True, new_bp, who, reason, "activate")
            info = self._info(s, prompt, target)
        self._changed(name)
        return info

    def deactivate(
        self, name: str, version: str, *, actor: str | None = None, reason: str | None = None
    ) -> VariantInfo:
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            target = self._variant(s, prompt, version)
            state = s.get_one(VariantState, target.id)
            self._set_state(s, prompt, target, state, False, 0, who, reason, "deactivate")
            info = self._info(s, prompt, target)
        self._changed(name)
        return info

    def set_shares(
        self, name: str, shares: Mapping[str, float], *, actor: str | None = None, reason: str | None = None
    ) -> list[VariantInfo]:
        """Set several shares in one change (percent; 0 deactivates). The total is checked once."""
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            targets = {self._variant(s, prompt, v).id: _bp(p) for v, p in shares.items()}
            states = {
                st.variant_id: st
                for st in s.scalars(select(VariantState).where(VariantState.prompt_id == prompt.id))
            }
            total = {vid: st.share_bp for vid, st in states.items() if st.active}
            total.update(targets)
            if sum(total.values()) > FULL_SHARE_BP:
                raise TrafficShareError(
                    f"shares of {name!r} would sum to {_pct(sum(total.values())):g} %, over 100 %"
                )
            for vid, bp in targets.items():
                self._set_state(
                    s,
                    prompt,
                    s.get_one(PromptVariant, vid),
                    states[vid],
                    bp > 0,
                    bp,
                    who,
                    reason,
                    "set_share",
                )
            infos = [self._info(s, prompt, s.get_one(PromptVariant, vid)) for vid in targets]
        self._changed(name)
        return infos

    def rollback(
        self, name: str, version: str, *, actor: str | None = None, reason: str | None = None
    ) -> VariantInfo:
        """Serve ``version`` alone again and point ``production`` at it, in one change."""
        info = self._rollback(name, version, actor or self.actor, reason or "rollback")
        self._changed(name)
        return info

    def _rollback(self, name: str, version: str, who: str, reason: str) -> VariantInfo:
        with self.store.write() as s:
            return self.rollback_within(s, name, version, actor=who, reason=reason)

    # --- changes inside the caller's transaction ---------------------------------------------------
    # The experiment service decides a promotion or rollback and changes the registry in ONE
    # transaction, with the experiment's row locked first: two such decisions can then never interleave
    # (issue 14: a promote and a rollback at the same moment both applied their registry change). These
    # methods lock the prompt row like every registry write; the caller commits and then calls its own
    # ``on_change``.

    def promote_within(self, s: Session, name: str, version: str, *, actor: str, reason: str) -> VariantInfo:
        """Serve ``version`` alone at 100 % and point ``production`` at it (audited as deactivate,
        activate and label), in the caller's transaction ``s``."""
        return self._serve_alone(s, name, version, actor, reason, on="activate", off="deactivate")

    def rollback_within(self, s: Session, name: str, version: str, *, actor: str, reason: str) -> VariantInfo:
        """What ``rollback`` does (audited as rollback), in the caller's transaction ``s``."""
        return self._serve_alone(s, name, version, actor, reason, on="rollback", off="rollback")

    def _serve_alone(
        self, s: Session, name: str, version: str, who: str, reason: str, *, on: str, off: str
    ) -> VariantInfo:
        prompt = self._lock_prompt(s, name)
        target = self._variant(s, prompt, version)
        states = s.scalars(select(VariantState).where(VariantState.prompt_id == prompt.id)).all()
        for st in states:
            if st.variant_id != target.id and st.active:
                self._set_state(
                    s, prompt, s.get_one(PromptVariant, st.variant_id), st, False, 0, who, reason, off
                )
        target_state = next(st for st in states if st.variant_id == target.id)
        self._set_state(s, prompt, target, target_state, True, FULL_SHARE_BP, who, reason, on)
        self._move_label(s, prompt, "production", target, who, reason)
        return self._info(s, prompt, target)

    def set_label(self, name: str, label: str, version: str, *, actor: str | None = None) -> VariantInfo:
        if not LABEL_PATTERN.match(label):
            raise ValidationError(
                f"invalid label {label!r}: lowercase letters, digits, '_' and '-', at most 100 characters"
            )
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            target = self._variant(s, prompt, version)
            self._move_label(s, prompt, label, target, who, None)
            info = self._info(s, prompt, target)
        self._changed(name)
        return info

    def remove_label(self, name: str, label: str, *, actor: str | None = None) -> None:
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            row = s.get(PromptLabel, (prompt.id, label))
            if row is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}")
            variant = s.get_one(PromptVariant, row.variant_id)
            s.delete(row)
            self._audit(
                s, prompt, variant, "unlabel", who, None, {"label": label, "version": variant.version}, None
            )
        self._changed(name)

    def update_config(
        self, name: str, changes: Mapping[str, Any], *, actor: str | None = None
    ) -> dict[str, Any]:
        """Merge per-prompt configuration (score weights, policies, …); audited like any state.

        The ``scoring`` section is validated first and stored versioned (``ScoringConfig.to_stored``): a
        bad value raises a ``ValidationError`` naming the field, and nothing is written."""
        checked = _checked_config(changes)  # refused before the prompt's row is locked
        return self.change_config(name, lambda _before: checked, actor=actor)

    def change_config(
        self,
        name: str,
        change: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Merge ``change(current configuration)`` into the configuration, as ``update_config`` does.

        ``change`` runs under the prompt's row lock, so a partial change of one section that is merged
        into what is stored (a few score weights, say) cannot lose a change committed at the same time.
        It must not do I/O; an exception it raises refuses the change and nothing is written."""
        who = actor or self.actor
        with self.store.write() as s:
            prompt = self._lock_prompt(s, name)
            before = dict(prompt.config or {})
            after = {**before, **_checked_config(change(before))}
            prompt.config = after
            self._audit(s, prompt, None, "config", who, None, before, after)
        self._changed(name)
        return after

    # --- helpers -----------------------------------------------------------------------------------

    def notify_changed(self, name: str) -> None:
        """Call ``on_change`` for ``name``: after committing a change made with a ``*_within`` method."""
        self._changed(name)

    def _changed(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name)

    @staticmethod
    def _check_total(name: str, others: Mapping[int, int], new_bp: int, version: str) -> None:
        total = sum(others.values()) + new_bp
        if total > FULL_SHARE_BP:
            raise TrafficShareError(
                f"activating {name}@{version} at {_pct(new_bp):g} % would bring active shares to "
                f"{_pct(total):g} %, over 100 % (others hold {_pct(sum(others.values())):g} %)"
            )

    def _set_state(
        self,
        s: Session,
        prompt: Prompt,
        variant: PromptVariant,
        state: VariantState,
        active: bool,
        share_bp: int,
        who: str,
        reason: str | None,
        action: str,
    ) -> None:
        before = {"active": state.active, "share": _pct(state.share_bp)}
        after = {"active": active, "share": _pct(share_bp)}
        if before == after:
            return
        state.active, state.share_bp = active, share_bp
        state.updated_at, state.updated_by = utcnow(), who
        self._audit(s, prompt, variant, action, who, reason, before, after)

    def _move_label(
        self, s: Session, prompt: Prompt, label: str, variant: PromptVariant, who: str, reason: str | None
    ) -> None:
        row = s.get(PromptLabel, (prompt.id, label))
        before_version = s.get_one(PromptVariant, row.variant_id).version if row else None
        if row is not None and row.variant_id == variant.id:
            return
        if row is None:
            s.add(PromptLabel(prompt_id=prompt.id, label=label, variant_id=variant.id))
        else:
            row.variant_id, row.updated_at = variant.id, utcnow()
        self._audit(
            s,
            prompt,
            variant,
            "label",
            who,
            reason,
            {"label": label, "version": before_version},
            {"label": label, "version": variant.version},
        )

    @staticmethod
    def _audit(
        s: Session,
        prompt: Prompt,
        variant: PromptVariant | None,
        action: str,
        who: str | None,
        reason: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        s.add(
            AuditEntry(
                prompt_id=prompt.id,
                variant_id=variant.id if variant else None,
                action=action,
                actor=who,
                reason=reason,
                before=before,
                after=after,
            )
        )

    @staticmethod
    def _prompt(s: Session, name: str) -> Prompt:
        prompt = s.scalar(select(Prompt).where(Prompt.name == name))
        if prompt is None:
            raise unknown_prompt(s, name)
        return prompt

    def _lock_prompt(self, s: Session, name: str) -> Prompt:
        prompt = s.scalar(select(Prompt).where(Prompt.name == name).with_for_update())
        if prompt is None:
            raise unknown_prompt(s, name)
        return prompt

    def _lock_or_create_prompt(self, s: Session, request: VariantCreate, who: str) -> Prompt:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        s.execute(
            insert(Prompt)
            .values(
                name=request.prompt,
                description=request.description,
                locale=request.locale,
                config={},
                created_by=who,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return self._lock_prompt(s, request.prompt)

    @staticmethod
    def _variant(s: Session, prompt: Prompt, version: str) -> PromptVariant:
        parsed = parse_version(version)
        variant = s.scalar(
            select(PromptVariant).where(
                PromptVariant.prompt_id == prompt.id, PromptVariant.version == str(parsed)
            )
        )
        if variant is None:
            raise NotFoundError(f"prompt {prompt.name!r} has no version {parsed}")
        return variant

    @staticmethod
    def _labelled(s: Session, prompt: Prompt, label: str) -> PromptVariant:
        row = s.get(PromptLabel, (prompt.id, label))
        if row is None:
            raise NotFoundError(f"prompt {prompt.name!r} has no label {label!r}")
        return s.get_one(PromptVariant, row.variant_id)

    @staticmethod
    def _serving(s: Session, prompt: Prompt) -> PromptVariant:
        """The active variant with the largest share; else the latest baseline; else the latest."""
        row = s.execute(
            select(PromptVariant)
            .join(VariantState, VariantState.variant_id == PromptVariant.id)
            .where(PromptVariant.prompt_id == prompt.id, VariantState.active.is_(True))
            .order_by(VariantState.share_bp.desc(), PromptVariant.id.desc())
            .limit(1)
        ).scalar()
        if row is not None:
            return row
        variants = s.scalars(select(PromptVariant).where(PromptVariant.prompt_id == prompt.id)).all()
        if not variants:
            raise NotFoundError(f"prompt {prompt.name!r} has no variants")
        baselines = [v for v in variants if v.kind == VariantKind.BASELINE.value] or list(variants)
        return max(baselines, key=lambda v: parse_version(v.version).sort_key())

    def _parent_for(
        self, s: Session, prompt: Prompt, parent: str | None, siblings: Any
    ) -> PromptVariant | None:
        if parent is not None:
            return self._variant(s, prompt, parent)
        if not siblings:
            return None
        return self._serving(s, prompt)

    @staticmethod
    def _states(s: Session, prompt_id: int) -> dict[int, tuple[bool, int]]:
        rows = s.execute(
            select(VariantState.variant_id, VariantState.active, VariantState.share_bp).where(
                VariantState.prompt_id == prompt_id
            )
        ).all()
        return {vid: (active, bp) for vid, active, bp in rows}

    def _info(self, s: Session, prompt: Prompt, v: PromptVariant) -> VariantInfo:
        state = s.get(VariantState, v.id)
        labels = s.scalars(
            select(PromptLabel.label).where(PromptLabel.variant_id == v.id).order_by(PromptLabel.label)
        ).all()
        parent_version = s.get_one(PromptVariant, v.parent_id).version if v.parent_id else None
        return VariantInfo(
            id=v.id,
            prompt=prompt.name,
            version=v.version,
            variant_key=v.variant_key,
            kind=VariantKind(v.kind),
            template_kind=TemplateKind(v.template_kind),
            template=v.template,
            variables=list(v.variables),
            settings=ModelSettings(**v.settings),
            strategy=v.strategy,
            parent_version=parent_version,
            rationale=v.rationale,
            meta=dict(v.meta or {}),
            created_by=v.created_by,
            created_at=v.created_at,
            active=bool(state and state.active),
            share=_pct(state.share_bp if state else 0),
            labels=list(labels),
        )

    def _summary(self, s: Session, p: Prompt) -> PromptSummary:
        rows = s.execute(
            select(PromptVariant.version, VariantState.active, VariantState.share_bp)
            .join(VariantState, VariantState.variant_id == PromptVariant.id)
            .where(PromptVariant.prompt_id == p.id)
        ).all()
        labels = s.execute(
            select(PromptLabel.label, PromptVariant.version)
            .join(PromptVariant, PromptVariant.id == PromptLabel.variant_id)
            .where(PromptLabel.prompt_id == p.id)
        ).all()
        versions = [r[0] for r in rows]
        latest = max(versions, key=lambda v: parse_version(v).sort_key()) if versions else None
        return PromptSummary(
            name=p.name,
            description=p.description,
            locale=p.locale,
            variants=len(rows),
            latest_version=latest,
            active={v: _pct(bp) for v, a, bp in rows if a},
            labels={label: version for label, version in labels},
            created_at=p.created_at,
        )


def _checked_config(changes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``changes`` with its ``scoring`` section validated and in its stored form (``ValidationError``
    names the field at fault)."""
    if changes.get("scoring") is None:
        return changes
    scoring = ScoringConfig.from_stored(changes["scoring"], where="scoring")
    return {**changes, "scoring": scoring.to_stored()}


def _template_text(template: str | list[dict[str, Any]]) -> str:
    if isinstance(template, str):
        return template if template.endswith("\n") else template + "\n"
    return "".join(f"[{m['role']}]\n{m['content']}\n" for m in template)
