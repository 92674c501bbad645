"""The knowledge base pages: the article list, detail (rendered Markdown, related records, versions with
a diff, reviews, helpful / not helpful, views), the form with a live preview, categories, and the KB
search across articles, known errors and resolved incidents. Views parse, authorize and call
knowledge/services.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordDetailView, RecordFormView, RecordUI, RoleView, badge
from opsdesk.core.workflow import TransitionNotAllowed

from . import selectors, services
from .filters import ArticleFilterSet
from .forms import ArticleForm, CategoryForm, ReviewForm
from .models import Article, ArticleCategory, ArticleFeedback
from .workflows import ARTICLE_WORKFLOW

STATUS_STYLES = {"draft": "secondary", "in_review": "warning", "published": "success", "retired": "dark"}
VIEWED_SESSION_KEY = "knowledge_viewed"
VIEWED_SESSION_MAX = 500


def _update_article(article, *, actor, data):
    return services.update_article(article, actor=actor, data=data)


class ArticleDetailView(RecordDetailView):
    """The shared detail page, with the article's own details tab (the rendered text) and a view counted
    once per article and browser session, not for its author."""

    def get(self, request, pk):
        response = super().get(request, pk)
        if response.status_code == 200 and not request.htmx:
            seen = request.session.get(VIEWED_SESSION_KEY, [])
            if pk not in seen:
                article = Article.objects.only("id", "author_id").get(pk=pk)
                services.record_view(article, user=request.user)
                request.session[VIEWED_SESSION_KEY] = [*seen, pk][-VIEWED_SESSION_MAX:]
        return response

    def context(self, ui, record, tab):
        context = super().context(ui, record, tab)
        if tab == "details":
            context["tab_template"] = "knowledge/_tab_details.html"
        return context


class ArticleFormView(RecordFormView):
    """The shared form, with the knowledge styles (the live preview renders like the article page)."""

    def render_form(self, form, status=200):
        urls = self.ui.record_urls(self.record) if self.record else self.ui.list_urls()
        # A new article: the articles with a similar title, to reuse or improve instead (KCS).
        similar = selectors.similar_articles(str(form["title"].value() or ""), user=self.request.user) \
            if self.record is None else []
        return render(self.request, "knowledge/form.html",
                      {"ui": self.ui, "urls": urls, "form": form, "record": self.record, "similar": similar},
                      status=status)


class ArticleUI(RecordUI):
    model = Article
    namespace = "knowledge"
    filterset_class = ArticleFilterSet
    form_class = ArticleForm
    workflow = ARTICLE_WORKFLOW
    search_fields = ("title", "summary")
    select_related = ("category", "author", "owner_team")
    prefetch_related = ("tags",)
    default_sort = "-id"
    create_role = "responder"
    edit_role = "responder"
    comment_role = "responder"
    read_only_states = ("retired",)
    detail_template = "knowledge/detail.html"
    list_template = "knowledge/list.html"
    extra_tabs = [("versions", gettext_lazy("Versions")), ("reviews", gettext_lazy("Reviews"))]
    panel_filters = ("status", "category", "tag", "service", "review_due")
    create_service = staticmethod(services.create_article)
    update_service = staticmethod(_update_article)
    transition_service = staticmethod(services.transition_article)
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("title", gettext_lazy("Title"), sort="title"),
        Column("category__name", gettext_lazy("Category")),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("version", gettext_lazy("Version")),
        Column("helpful", gettext_lazy("Helpful")),
        Column("view_count", gettext_lazy("Views"), sort="view_count"),
        Column("review_by", gettext_lazy("Review by"), sort="review_by"),
        Column("tags", gettext_lazy("Tags")),
    ]

    @classmethod
    def label_plural(cls):
        return _("Knowledge articles")

    @classmethod
    def label(cls):
        return _("Article")

    def render_status(self, article):
        return badge(article.get_status_display(), STATUS_STYLES.get(article.status, "secondary"))

    def text_status(self, article):
        return article.status

    def render_helpful(self, article):
        return f"+{article.helpful_count}\u2009/\u2009−{article.not_helpful_count}"

    def render_title(self, article):  # one line, cut to the column's width (the full title on hover)
        return format_html('<span class="kb-title" title="{}">{}</span>', article.title, article.title)

    def text_title(self, article):
        return article.title

    def render_review_by(self, article):
        """The review date as the rest of the app writes dates (Y-m-d), marked when it has passed."""
        if article.review_by is None:
            return ""
        day = article.review_by.isoformat()
        if not selectors.review_overdue(article):
            return day
        label = _("Review overdue since %(date)s") % {"date": day}
        return format_html('<span class="review-overdue text-danger fw-semibold" title="{}"><i class="bi '
                           'bi-exclamation-triangle-fill me-1" aria-hidden="true"></i>{}<span class="visually-hidden">'
                           ' ({})</span></span>', label, day, _("overdue"))

    def text_review_by(self, article):
        return article.review_by.isoformat() if article.review_by else ""

    def render_tags(self, article):
        return format_html('<span class="kb-tags">{}</span>', ", ".join(tag.name for tag in article.tags.all()))

    def text_tags(self, article):
        return ", ".join(tag.name for tag in article.tags.all())

    def form_kwargs(self, request, record):
        if record is not None:
            return {}
        return {"prefill": selectors.prefill_for(request)}

    def extra_context(self, record, user):
        return selectors.article_context(record, user)

    def tab_context(self, key, record, request):
        if key == "versions":
            return selectors.versions_context(record, request.GET)
        if key == "reviews":
            return {"reviews": list(record.reviews.select_related("reviewer")),
                    "review_form": ReviewForm() if selectors.may_review(request.user, record) else None}
        return {}

    @classmethod
    def urls(cls):
        own = {"detail": path("<int:pk>/", ArticleDetailView.as_view(ui=cls), name="detail"),
               "create": path("new/", ArticleFormView.as_view(ui=cls), name="create"),
               "edit": path("<int:pk>/edit/", ArticleFormView.as_view(ui=cls), name="edit")}
        return [own.get(getattr(p, "name", None), p) for p in super().urls()] + [
            path("search/", KnowledgeSearchView.as_view(), name="search"),
            path("preview/", PreviewView.as_view(), name="preview"),
            path("similar/", SimilarView.as_view(), name="similar"),
            path("<int:pk>/review/", ReviewView.as_view(), name="review"),
            path("<int:pk>/feedback/", FeedbackView.as_view(), name="feedback"),
        ]


class CategoryUI(RecordUI):
    model = ArticleCategory
    namespace = "knowledge"
    path_prefix = "categories/"
    url_prefix = "category_"
    form_class = CategoryForm
    search_fields = ("name", "slug", "description")
    default_sort = "order"
    create_role = "manager"
    edit_role = "manager"
    detail_fields = ["name", "slug", "description", "order", "articles"]
    create_service = staticmethod(services.create_category)
    update_service = staticmethod(services.update_category)
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("slug", gettext_lazy("Key")),
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("description", gettext_lazy("Description")),
    ]

    @classmethod
    def label_plural(cls):
        return _("Article categories")

    @classmethod
    def label(cls):
        return _("Article category")

    def render_articles(self, category):
        from django.urls import reverse

        count = category.articles.count()
        return format_html('<a href="{}?category={}">{}</a>', reverse("knowledge:list"), category.slug,
                           ngettext("%(n)s article", "%(n)s articles", count) % {"n": count})

    render_articles.label = gettext_lazy("Articles")


class KnowledgeSearchView(RoleView):
    """Ranked results across published articles, active known errors and resolved or closed incidents."""

    def get(self, request):
        q = request.GET.get("q", "").strip()[:200]
        kinds = [k for k in request.GET.getlist("kind") if k in selectors.SEARCH_KINDS]
        hits = selectors.kb_search(q, user=request.user, kinds=kinds or None) if q else []
        offered = selectors.kind_labels(request.user)
        return render(request, "knowledge/search.html", {
            "kb_q": q, "hits": hits, "kinds": [(key, label, key in kinds) for key, label in offered],
        })


class SimilarView(RoleView):
    """The "similar articles exist" warning of the new article form, refreshed as the title is typed."""

    role = "responder"

    def get(self, request):
        title = request.GET.get("title", "")[:300]
        return render(request, "knowledge/_similar.html",
                      {"similar": selectors.similar_articles(title, user=request.user)})


class PreviewView(RoleView):
    role = "responder"

    def post(self, request):
        return HttpResponse(render_safe(request.POST.get("body", "")[:200000]) or
                            '<span class="text-body-secondary">' + _("Nothing to preview yet.") + "</span>")


class ReviewView(RoleView):
    def post(self, request, pk):
        article = get_object_or_404(Article, pk=pk)
        if not can(request.user, "responder", article):
            raise PermissionDenied
        form = ReviewForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a decision."))
        else:
            try:
                services.review_article(article, actor=self.actor(), decision=form.cleaned_data["decision"],
                                        comment=form.cleaned_data["comment"])
                messages.success(request, _("Your review was recorded."))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
        return HttpResponseRedirect(article.get_absolute_url() + "?tab=reviews")


class FeedbackView(RoleView):
    def post(self, request, pk):
        article = get_object_or_404(Article, pk=pk)
        helpful = request.POST.get("helpful")
        if helpful not in ("yes", "no"):
            messages.error(request, _("Say whether the article helped."))
        else:
            try:
                services.record_feedback(article, user=request.user, helpful=helpful == "yes",
                                         comment=request.POST.get("comment", ""))
                messages.success(request, _("Thank you for the feedback."))
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
        if request.htmx:
            article.refresh_from_db()
            return render(request, "knowledge/_feedback.html", {
                "record": article, "my_feedback": ArticleFeedback.objects.filter(article=article,
                                                                                 user=request.user).first()})
        return HttpResponseRedirect(article.get_absolute_url())


urlpatterns = [*ArticleUI.urls(), *CategoryUI.urls()]
