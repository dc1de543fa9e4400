// SPDX-License-Identifier: GPL-2.0
/*
 * The picture of the migration states cannot go stale:
 * Documentation/migration-states.dot must hold exactly the arcs that
 * ivm_step() in drivers/ivm_mig.c takes, each with the right tags (which
 * arcs exist only with PRE_COPY offered, where the data fds open and end,
 * which arcs freeze or thaw the BARs, the failure into ERROR, the reset out
 * of it), and Documentation/migration-states.svg must have been rendered
 * from that .dot (`make docs`).  Reads the sources as text, so no device,
 * kernel or graphviz is needed.  IVM_MIG_C, IVM_STATES_DOT and
 * IVM_STATES_SVG name other files (to show that a broken picture fails).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#define MAX_ARCS	64
#define NAME_LEN	32

enum {
	T_PRECOPY	= 1 << 0,
	T_OPEN_SAVE	= 1 << 1,
	T_END_SAVE	= 1 << 2,
	T_OPEN_RESUME	= 1 << 3,
	T_END_RESUME	= 1 << 4,
	T_FREEZE	= 1 << 5,
	T_THAW		= 1 << 6,
	T_ERROR		= 1 << 7,
	T_RESET		= 1 << 8,
};

/* the tags as the .dot's class attribute spells them, bit by bit */
static const char * const tag_names[] = {
	"precopy", "open-save", "end-save", "open-resume", "end-resume",
	"freeze", "thaw", "error", "reset",
};

#define N_TAGS	ARRAY_SIZE(tag_names)

/*
 * What a branch of ivm_step() calls, and the tag that follows.  Where the
 * call is one of the driver's helpers (@via set), the helper's own body in
 * ivm_mig.c must contain @via, so that this table cannot go stale either.
 */
static const struct rule {
	unsigned int tag;
	const char *call;
	const char *via;
} rules[] = {
	{ T_OPEN_SAVE,   "ivm_start_save(",    "ivm_file_create(" },
	{ T_OPEN_SAVE,   "ivm_start_precopy(", "ivm_file_create(" },
	{ T_OPEN_RESUME, "ivm_start_resume(",  "ivm_file_create(" },
	{ T_END_SAVE,    "ivm_file_retire(&mig->save_file)", NULL },
	{ T_END_RESUME,  "ivm_finish_resume(", "ivm_file_retire(&mig->resume_file)" },
	{ T_FREEZE,      "ivm_bar_freeze(",    NULL },
	{ T_FREEZE,      "ivm_precopy_stop(",  "ivm_bar_freeze(" },
	{ T_THAW,        "ivm_bar_thaw(",      NULL },
	{ T_THAW,        "ivm_start_resume(",  "ivm_bar_thaw(" },
};

struct arc {
	char from[NAME_LEN];
	char to[NAME_LEN];
	unsigned int tags;
};

struct arcs {
	struct arc a[MAX_ARCS];
	int n;
	char err[256];		/* why the file could not be read, if it could not */
};

static const char *path_of(const char *env, const char *def)
{
	const char *p = getenv(env);

	return p && *p ? p : def;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, n;

	if (!f)
		return NULL;
	/* whole files of a few ten KiB: grow by 64 KiB, read to the end */
	do {
		char *nb = realloc(buf, len + 65536 + 1);

		if (!nb) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = nb;
		n = fread(buf + len, 1, 65536, f);
		len += n;
	} while (n == 65536);
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	} else {
		buf[len] = 0;
	}
	fclose(f);
	return buf;
}

static void tags_str(unsigned int tags, char *out, size_t len)
{
	size_t i, o = 0;

	out[0] = 0;
	for (i = 0; i < N_TAGS && o < len; i++)
		if (tags & (1U << i))
			o += snprintf(out + o, len - o, "%s%s", o ? " " : "",
				      tag_names[i]);
	if (!o)
		snprintf(out, len, "(none)");
}

static int add_arc(struct arcs *s, const char *from, const char *to,
		   unsigned int tags)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (!strcmp(s->a[i].from, from) && !strcmp(s->a[i].to, to)) {
			snprintf(s->err, sizeof(s->err), "arc %s -> %s twice", from, to);
			return -1;
		}
	}
	if (s->n == MAX_ARCS || strlen(from) >= NAME_LEN || strlen(to) >= NAME_LEN) {
		snprintf(s->err, sizeof(s->err), "too many arcs or too long a name");
		return -1;
	}
	snprintf(s->a[s->n].from, NAME_LEN, "%s", from);
	snprintf(s->a[s->n].to, NAME_LEN, "%s", to);
	s->a[s->n].tags = tags;
	s->n++;
	return 0;
}

/* An identifier at @p, copied to @out; returns its end. */
static const char *ident(const char *p, char *out)
{
	size_t n = 0;

	while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
	       (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
		n++;
	if (n >= NAME_LEN)
		n = NAME_LEN - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return p + n;
}

/*
 * The body of the static function @name in @src, "{" to "}" at the start of
 * a line (kernel style), as a new string; NULL if there is no definition.
 */
static char *body_of(const char *src, const char *name)
{
	size_t len = strlen(name);
	const char *p = src, *line, *open, *close;
	char *body;

	while ((p = strstr(p, name))) {
		for (line = p; line > src && line[-1] != '\n'; line--)
			;
		if (!strncmp(line, "static ", 7) && p[len] == '(' &&
		    (p[-1] == ' ' || p[-1] == '*')) {
			open = strstr(p, "\n{\n");
			close = open ? strstr(open, "\n}\n") : NULL;
			/* a prototype ends with ";" before any body */
			if (close && !memchr(p, ';', open - p)) {
				body = strndup(open + 1, close + 2 - (open + 1));
				return body;
			}
		}
		p += len;
	}
	return NULL;
}

static int only_glue(const char *a, const char *b)
{
	for (; a < b; a++)
		if (!strchr(" \t\n()|&", *a))
			return 0;
	return 1;
}

/*
 * The arcs of ivm_step(): every "cur == VFIO_DEVICE_STATE_X" followed by
 * "next == VFIO_DEVICE_STATE_Y".  Arcs joined by || in one condition share
 * the branch that follows, up to the next condition; the branch's calls give
 * the tags; a branch inside #ifdef IVM_OWN_BAR_MMAP is pre-copy only; a
 * branch that sets VFIO_DEVICE_STATE_ERROR adds the failure arc into ERROR.
 * ivm_reset_locked() setting RUNNING gives the reset arc out of ERROR.
 */
static int read_ivm_step(const char *src, struct arcs *s)
{
	static const char cur_pat[] = "cur == VFIO_DEVICE_STATE_";
	static const char next_pat[] = "next == VFIO_DEVICE_STATE_";
	const char *starts[MAX_ARCS], *ends[MAX_ARCS], *seg_first[MAX_ARCS];
	const char *p, *q, *ifdef, *endif, *prev_end = NULL;
	char from[MAX_ARCS][NAME_LEN], to[MAX_ARCS][NAME_LEN];
	char *body, *reset, *helper, *seg;
	int n = 0, i, ret = 0;
	size_t r;

	s->n = 0;
	body = body_of(src, "ivm_step");
	if (!body) {
		snprintf(s->err, sizeof(s->err), "no definition of ivm_step()");
		return -1;
	}
	ifdef = strstr(body, "#ifdef IVM_OWN_BAR_MMAP");
	endif = ifdef ? strstr(ifdef, "#endif") : NULL;

	for (p = body; (p = strstr(p, cur_pat)) && n < MAX_ARCS; ) {
		q = ident(p + sizeof(cur_pat) - 1, from[n]);
		q = strstr(q, next_pat);
		if (!q) {
			snprintf(s->err, sizeof(s->err), "\"cur ==\" without \"next ==\"");
			ret = -1;
			goto out;
		}
		ends[n] = ident(q + sizeof(next_pat) - 1, to[n]);
		starts[n] = p;
		seg_first[n] = prev_end && only_glue(prev_end, p) ? seg_first[n - 1] : p;
		prev_end = ends[n];
		p = ends[n];
		n++;
	}

	for (i = 0; i < n; i++) {
		const char *seg_end = body + strlen(body);
		unsigned int tags = 0;
		int j;

		/* the branch runs to the next condition that starts a branch */
		for (j = i + 1; j < n; j++) {
			if (seg_first[j] != seg_first[i]) {
				seg_end = seg_first[j];
				break;
			}
		}
		seg = strndup(seg_first[i], seg_end - seg_first[i]);
		if (!seg) {
			ret = -1;
			goto out;
		}
		for (r = 0; r < ARRAY_SIZE(rules); r++)
			if (strstr(seg, rules[r].call))
				tags |= rules[r].tag;
		if (ifdef && endif && starts[i] > ifdef && starts[i] < endif)
			tags |= T_PRECOPY;
		ret = add_arc(s, from[i], to[i], tags);
		if (!ret && strstr(seg, "VFIO_DEVICE_STATE_ERROR"))
			ret = add_arc(s, from[i], "ERROR",
				      T_ERROR | (tags & ~T_PRECOPY));
		free(seg);
		if (ret)
			goto out;
	}

	reset = body_of(src, "ivm_reset_locked");
	if (reset && strstr(reset, "mig_state = VFIO_DEVICE_STATE_RUNNING"))
		ret = add_arc(s, "ERROR", "RUNNING", T_RESET);
	free(reset);

	/* the helpers the rules name must still do what the rules say */
	for (r = 0; !ret && r < ARRAY_SIZE(rules); r++) {
		char name[NAME_LEN];

		if (!rules[r].via)
			continue;
		ident(rules[r].call, name);
		helper = body_of(src, name);
		if (!helper || !strstr(helper, rules[r].via)) {
			snprintf(s->err, sizeof(s->err),
				 "%s() %s: this test's rule for \"%s\" needs updating",
				 name, helper ? "no longer contains the call" : "is gone",
				 rules[r].via);
			ret = -1;
		}
		free(helper);
	}
out:
	free(body);
	return ret;
}

static int parse_tags(const char *p, const char *end, unsigned int *tags,
		      char *err, size_t elen)
{
	char tok[NAME_LEN];
	size_t i, n;

	*tags = 0;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		for (n = 0; p + n < end && p[n] != ' '; n++)
			;
		if (!n)
			break;
		if (n >= NAME_LEN)
			n = NAME_LEN - 1;
		memcpy(tok, p, n);
		tok[n] = 0;
		p += n;
		for (i = 0; i < N_TAGS; i++)
			if (!strcmp(tok, tag_names[i]))
				break;
		if (i == N_TAGS) {
			snprintf(err, elen, "unknown tag \"%s\"", tok);
			return -1;
		}
		*tags |= 1U << i;
	}
	return 0;
}

/* The arcs of the .dot: one "FROM -> TO [class="TAGS" ...];" per line. */
static int read_dot(const char *src, struct arcs *s)
{
	const char *line = src, *eol, *arrow, *p, *cls, *cend;
	char from[NAME_LEN], to[NAME_LEN];
	unsigned int tags;
	int lineno = 0;

	s->n = 0;
	for (; *line; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		lineno++;
		for (p = line; p < eol && (*p == ' ' || *p == '\t'); p++)
			;
		if (eol - p >= 2 && p[0] == '/' && p[1] == '/')
			continue;
		arrow = strstr(p, "->");
		if (!arrow || arrow >= eol)
			continue;
		if (strstr(arrow + 2, "->") && strstr(arrow + 2, "->") < eol) {
			snprintf(s->err, sizeof(s->err), "line %d: one arc per line", lineno);
			return -1;
		}
		p = ident(p, from);
		while (*arrow == '-' || *arrow == '>' || *arrow == ' ')
			arrow++;
		p = ident(arrow, to);
		if (!from[0] || !to[0]) {
			snprintf(s->err, sizeof(s->err), "line %d: not \"FROM -> TO\"", lineno);
			return -1;
		}
		tags = 0;
		cls = strstr(p, "class=\"");
		if (cls && cls < eol) {
			cls += 7;
			cend = strchr(cls, '"');
			if (!cend || cend > eol ||
			    parse_tags(cls, cend, &tags, s->err, sizeof(s->err))) {
				if (!s->err[0])
					snprintf(s->err, sizeof(s->err), "unterminated class");
				return -1;
			}
		}
		if (add_arc(s, from, to, tags))
			return -1;
	}
	return 0;
}

/* Decode the two entities graphviz writes into titles and classes. */
static void unentity(char *s)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&#45;", '-' }, { "&gt;", '>' },
	};
	char *r = s, *w = s;
	size_t i;

	while (*r) {
		for (i = 0; i < 2; i++) {
			size_t l = strlen(ents[i].ent);

			if (!strncmp(r, ents[i].ent, l)) {
				*w++ = ents[i].c;
				r += l;
				break;
			}
		}
		if (i == 2)
			*w++ = *r++;
	}
	*w = 0;
}

/* The edges of graphviz's SVG: <g id="edgeN" class="edge TAGS"><title>A->B */
static int read_svg(const char *src, struct arcs *s)
{
	const char *p = src, *cls, *cend, *title, *tend;
	char buf[256], from[NAME_LEN], to[NAME_LEN], *arrow;
	unsigned int tags;

	s->n = 0;
	while ((p = strstr(p, "<g id=\"edge"))) {
		cls = strstr(p, "class=\"edge");
		title = strstr(p, "<title>");
		if (!cls || !title || cls > title) {
			snprintf(s->err, sizeof(s->err), "an edge without class or title");
			return -1;
		}
		cls += strlen("class=\"edge");
		cend = strchr(cls, '"');
		tend = strstr(title, "</title>");
		if (!cend || !tend || (size_t)(cend - cls) >= sizeof(buf)) {
			snprintf(s->err, sizeof(s->err), "a damaged edge");
			return -1;
		}
		memcpy(buf, cls, cend - cls);
		buf[cend - cls] = 0;
		unentity(buf);
		if (parse_tags(buf, buf + strlen(buf), &tags, s->err, sizeof(s->err)))
			return -1;
		title += strlen("<title>");
		if ((size_t)(tend - title) >= sizeof(buf)) {
			snprintf(s->err, sizeof(s->err), "a damaged title");
			return -1;
		}
		memcpy(buf, title, tend - title);
		buf[tend - title] = 0;
		unentity(buf);
		arrow = strstr(buf, "->");
		if (!arrow) {
			snprintf(s->err, sizeof(s->err), "edge title \"%.200s\"", buf);
			return -1;
		}
		*arrow = 0;
		ident(buf, from);
		ident(arrow + 2, to);
		if (add_arc(s, from, to, tags))
			return -1;
		p = tend;
	}
	return 0;
}

static const struct arc *find(const struct arcs *s, const struct arc *a)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->a[i].from, a->from) && !strcmp(s->a[i].to, a->to))
			return &s->a[i];
	return NULL;
}

/* Print every difference (want: the truth, have: the picture); count them. */
static int compare(struct __test_metadata *_metadata, const struct arcs *want,
		   const struct arcs *have, const char *what, int quiet)
{
	char t1[128], t2[128];
	const struct arc *o;
	int i, diffs = 0;

	for (i = 0; i < want->n; i++) {
		o = find(have, &want->a[i]);
		tags_str(want->a[i].tags, t1, sizeof(t1));
		if (!o) {
			diffs++;
			if (!quiet)
				TH_LOG("%s lacks %s -> %s [%s]", what,
				       want->a[i].from, want->a[i].to, t1);
		} else if (o->tags != want->a[i].tags) {
			diffs++;
			tags_str(o->tags, t2, sizeof(t2));
			if (!quiet)
				TH_LOG("%s: %s -> %s has tags [%s], should be [%s]",
				       what, o->from, o->to, t2, t1);
		}
	}
	for (i = 0; i < have->n; i++) {
		if (!find(want, &have->a[i])) {
			diffs++;
			if (!quiet)
				TH_LOG("%s has %s -> %s, which should not be there",
				       what, have->a[i].from, have->a[i].to);
		}
	}
	return diffs;
}

static void load(struct __test_metadata *_metadata, const char *env,
		 const char *def, int (*reader)(const char *, struct arcs *),
		 struct arcs *s)
{
	const char *path = path_of(env, def);
	char *src = slurp(path);
	int ret;

	if (!src) {
		TH_LOG("cannot read %s (%s=... names another file)", path, env);
		ASSERT_TRUE(0);
	}
	ret = reader(src, s);
	free(src);
	if (ret)
		TH_LOG("%s: %s", path, s->err);
	ASSERT_EQ(0, ret);
}

#define MIG_C	"../../drivers/ivm_mig.c"
#define DOT	"../../Documentation/migration-states.dot"
#define SVG	"../../Documentation/migration-states.svg"

static struct arcs truth, pic, svg;

/* The FSM reads as expected: the test would be empty otherwise. */
TEST(ivm_step_parsed)
{
	char t[128];
	int i, pre = 0;

	load(_metadata, "IVM_MIG_C", MIG_C, read_ivm_step, &truth);
	for (i = 0; i < truth.n; i++) {
		tags_str(truth.a[i].tags, t, sizeof(t));
		printf("# ivm_step: %s -> %s [%s]\n", truth.a[i].from, truth.a[i].to, t);
		pre += !!(truth.a[i].tags & T_PRECOPY);
	}
	/* RUNNING <-> RUNNING_P2P <-> STOP <-> STOP_COPY/RESUMING at least */
	ASSERT_GE(truth.n, 8);
	ASSERT_GE(pre, 1);
}

TEST(dot_has_the_arcs_of_ivm_step)
{
	load(_metadata, "IVM_MIG_C", MIG_C, read_ivm_step, &truth);
	load(_metadata, "IVM_STATES_DOT", DOT, read_dot, &pic);
	EXPECT_EQ(0, compare(_metadata, &truth, &pic, path_of("IVM_STATES_DOT", DOT), 0))
		TH_LOG("the picture differs from ivm_step(): fix the .dot, then make docs");
}

TEST(svg_is_rendered_from_the_dot)
{
	load(_metadata, "IVM_STATES_DOT", DOT, read_dot, &pic);
	load(_metadata, "IVM_STATES_SVG", SVG, read_svg, &svg);
	EXPECT_EQ(0, compare(_metadata, &pic, &svg, path_of("IVM_STATES_SVG", SVG), 0))
		TH_LOG("the SVG is stale: make docs");
}

/* The comparison itself sees a dropped arc, an added one and a changed tag. */
TEST(comparison_catches_damage)
{
	struct arcs damaged;

	load(_metadata, "IVM_MIG_C", MIG_C, read_ivm_step, &truth);
	ASSERT_EQ(0, compare(_metadata, &truth, &truth, "itself", 1));

	damaged = truth;
	damaged.n--;
	EXPECT_EQ(1, compare(_metadata, &truth, &damaged, "dropped", 1));

	damaged = truth;
	damaged.a[0].tags ^= T_FREEZE;
	EXPECT_EQ(1, compare(_metadata, &truth, &damaged, "retagged", 1));

	damaged = truth;
	ASSERT_EQ(0, add_arc(&damaged, "STOP_COPY", "RUNNING", 0));
	EXPECT_EQ(1, compare(_metadata, &truth, &damaged, "added", 1));
}

TEST_HARNESS_MAIN
