"""The import API under /api/v1/cmdb/imports/: a discovery tool or a script uploads a file (multipart)
or pushes rows (JSON) and gets 202 with the queued run; the run's report is read back from the detail;
`POST …/{id}/apply/` runs a finished dry run for real. Managers (global role) import, because an import
can touch any team's CIs; everyone reads. Writes go through `import_runs`."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from opsdesk.core.actors import Actor
from opsdesk.core.api import PayloadTooLarge

from . import import_runs
from .models import ImportRun

MULTIPART_SLACK = 256 * 1024  # room for the form fields and boundaries around the file


class ImportRunSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    default_class = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ImportRun
        fields = ["id", "number", "url", "name", "kind", "source", "file_name", "file_sha256", "default_class",
                  "mapping", "match_keys", "on_no_match", "on_one_match", "on_many_matches", "on_unseen", "dry_run",
                  "status", "started_at", "finished_at", "rows_total", "created_count", "updated_count",
                  "unchanged_count", "skipped_count", "error_count", "unseen_count", "error", "created_at"]
        read_only_fields = fields


class ReportLineSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text=_("Row number in the file; empty for CIs not seen."))
    action = serializers.ChoiceField(choices=["create", "update", "unchanged", "skip", "error", "unseen"])
    ci = serializers.CharField(allow_null=True, help_text=_("The CI's number."))
    message = serializers.CharField()
    changes = serializers.DictField(help_text=_("{field: [before, after]}"))


class ImportRunDetailSerializer(ImportRunSerializer):
    report = ReportLineSerializer(many=True, read_only=True)

    class Meta(ImportRunSerializer.Meta):
        fields = [*ImportRunSerializer.Meta.fields, "report"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.ANY)
class JSONValueField(serializers.Field):
    """A JSON value (JSON requests) or, in a multipart form, its text; plain text stays text
    (`match_keys=hostname,ip`)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and data.strip()[:1] in ("{", "["):
            try:
                return json.loads(data)
            except ValueError:
                raise serializers.ValidationError(_("Not valid JSON.")) from None
        return data

    def to_representation(self, value):
        return value


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text=_("The file (multipart): CSV, XLSX, nmap XML or Ansible "
                                                              "facts."))
    kind = serializers.ChoiceField(choices=[k for k, _label in ImportRun.KINDS], required=False,
                                   help_text=_("Guessed from the file name and content when left out; "
                                               "`rows` with a JSON body."))
    rows = serializers.ListField(child=serializers.DictField(), required=False,
                                 help_text=_("Rows pushed by a discovery tool (JSON body), one object per CI, keyed "
                                             "by CI field or attr.<key> (or by your own names plus a mapping)."))
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    source = serializers.CharField(required=False, max_length=64,
                                   help_text=_("Discovery source; CIs not seen are looked for among its CIs."))
    default_class = serializers.CharField(required=False, allow_blank=True, help_text=_("Class key for new CIs."))
    mapping = JSONValueField(required=False, help_text=_('{"column": "CI field, attr.<key> or empty to ignore"}'))
    match_keys = JSONValueField(required=False, help_text=_('e.g. ["serial_number"] or "hostname,ip"'))
    on_no_match = serializers.ChoiceField(choices=ImportRun.ON_NONE, required=False)
    on_one_match = serializers.ChoiceField(choices=ImportRun.ON_ONE, required=False)
    on_many_matches = serializers.ChoiceField(choices=ImportRun.ON_MANY, required=False)
    on_unseen = serializers.ChoiceField(choices=ImportRun.UNSEEN, required=False)
    dry_run = serializers.BooleanField(required=False, default=True)


class ImportRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Import runs with their reports. The list leaves the report out; read it from the detail."""

    queryset = ImportRun.objects.select_related("default_class")
    serializer_class = ImportRunSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    action_roles = {"create": "manager", "apply": "manager"}
    filterset_fields = ["status", "kind", "dry_run", "source"]
    search_fields = ["number", "name", "file_name", "source"]
    ordering_fields = ["id", "created_at", "finished_at", "status"]
    ordering = ["-id"]

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.defer("report") if self.action == "list" else queryset

    def get_serializer_class(self):
        return ImportRunDetailSerializer if self.action == "retrieve" else ImportRunSerializer

    @extend_schema(
        summary="Import a file or pushed rows",
        description=("Multipart with `file` and options, or JSON with `kind: rows` and `rows`. Answers 202 with "
                     "the queued run; the job fills in its counts and report. A file that cannot be read is "
                     "400 and creates no run; a file over the limit is 413."),
        request={"multipart/form-data": ImportRequestSerializer, "application/json": ImportRequestSerializer},
        responses={202: ImportRunSerializer, 400: OpenApiResponse(description="Bad file or options"),
                   413: OpenApiResponse(description="The file is over the import limit")},
    )
    def create(self, request):
        limit = import_runs.max_upload_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + MULTIPART_SLACK:  # refuse before reading the body
            raise PayloadTooLarge(str(import_runs.too_large_error().message_dict["file"][0]))
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = dict(serializer.validated_data)
        upload, rows = options.pop("file", None), options.pop("rows", None)
        if rows is not None:
            if length > limit:
                raise PayloadTooLarge(str(import_runs.too_large_error().message_dict["file"][0]))
            staged = import_runs.stage_rows(rows)
        elif upload is not None:
            staged = import_runs.stage_upload(upload, options.get("kind") if options.get("kind") != "rows" else None)
        else:
            raise ValidationError({"file": _("Send a file (multipart) or rows (JSON with kind “rows”).")})
        run = import_runs.create_import(actor=Actor.from_request(request), staged=staged, options=options)
        return Response(ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"{request.path}{run.pk}/"})

    @extend_schema(summary="Apply a dry run", request=None,
                   responses={202: ImportRunSerializer,
                              409: OpenApiResponse(description="Not a finished dry run")})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        run = import_runs.apply_import(self.get_object(), actor=Actor.from_request(request))
        return Response(ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
