"""The knowledge base: articles in Markdown with versions, reviews and feedback (KCS style)."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel, Tag

from .workflows import ARTICLE_WORKFLOW

USER = settings.AUTH_USER_MODEL


class ArticleCategory(BaseModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=100)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("article category")
        verbose_name_plural = _("article categories")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("knowledge:category_detail", args=[self.pk])


class Article(NumberedModel):
    NUMBER_PREFIX = "KB"
    TEAM_FIELD = "owner_team"

    title = models.CharField(_("title"), max_length=300)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    body = models.TextField(_("body (Markdown)"))
    category = models.ForeignKey(ArticleCategory, verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="articles")
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="+")
    services = models.ManyToManyField("services.Service", verbose_name=_("related services"), blank=True,
                                      related_name="articles")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("related CIs"), blank=True,
                                 related_name="articles")
    known_errors = models.ManyToManyField("problems.KnownError", verbose_name=_("related known errors"), blank=True,
                                          related_name="articles")
    incidents = models.ManyToManyField("incidents.Incident", verbose_name=_("related incidents"), blank=True,
                                       related_name="articles")
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="articles")
    author = models.ForeignKey(USER, verbose_name=_("author"), null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="articles")
    reviewers = models.ManyToManyField(USER, verbose_name=_("reviewers"), blank=True, related_name="articles_to_review")
    status = models.CharField(_("status"), max_length=10, choices=ARTICLE_WORKFLOW.choices,
                              default=ARTICLE_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    review_by = models.DateField(_("review by"), null=True, blank=True, db_index=True,
                                 help_text=_("The owner is reminded to check the article is still right."))
    review_reminded_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(_("views"), default=0)
    helpful_count = models.PositiveIntegerField(_("helpful"), default=0)
    not_helpful_count = models.PositiveIntegerField(_("not helpful"), default=0)
    # Where it was written from (KCS: capture knowledge in the flow of work).
    source_incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    source_known_error = models.ForeignKey("problems.KnownError", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "review_by"])]

    def get_absolute_url(self):
        return reverse("knowledge:detail", args=[self.pk])


class ArticleVersion(models.Model):
    """A saved state of an article: every edit of the title, summary or body makes a new version."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    author = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="article_version_unique")]

    def __str__(self):
        return f"{self.article.number} v{self.number}"


class ArticleReview(models.Model):
    DECISIONS = [("approved", _("Approved")), ("changes_requested", _("Changes requested"))]

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="reviews")
    version = models.PositiveIntegerField()
    reviewer = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=20, choices=DECISIONS)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.article.number} v{self.version}: {self.decision}"


class ArticleFeedback(models.Model):
    """Helpful / not helpful, one vote per person per article (a second vote changes the first)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    comment = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "user"], name="article_feedback_once")]

    def __str__(self):
        return f"{self.article.number} {'+' if self.helpful else '-'}"
