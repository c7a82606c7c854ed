/*-------------------------------------------------------------------------
 *
 * s3xml.c
 *	  S3's XML documents through libxml2 (see s3xml.h).
 *
 *-------------------------------------------------------------------------
 */
#include "s3xml.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "strata_err.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_parser(void)
{
	xmlInitParser();
}

/* Parse; NULL if it is not well-formed XML (or too big). */
static xmlDocPtr
parse(const char *body, size_t len)
{
	xmlDocPtr	doc;

	pthread_once(&init_once, init_parser);
	if (body == NULL || len == 0 || len > S3XML_BODY_MAX)
		return NULL;
	doc = xmlReadMemory(body, (int) len, "s3.xml", NULL,
						XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
						XML_PARSE_NOCDATA);
	/* S3 never sends a DTD; one could only declare entities to expand */
	if (doc != NULL && doc->intSubset != NULL)
	{
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

static int
named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *) n->name, name) == 0;
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

/* The text of parent's child `name` into buf; 0, or -1 if there is none. */
static int
child_text(xmlNodePtr parent, const char *name, char *buf, size_t buflen)
{
	xmlNodePtr	c = child(parent, name);
	xmlChar    *t;

	if (buflen > 0)
		buf[0] = '\0';
	if (c == NULL || (t = xmlNodeGetContent(c)) == NULL)
		return -1;
	if (buflen > 0)
	{
		size_t		n = strlen((const char *) t);

		if (n >= buflen)
			n = buflen - 1;
		memcpy(buf, t, n);
		buf[n] = '\0';
	}
	xmlFree(t);
	return 0;
}

static char *
child_strdup(xmlNodePtr parent, const char *name)
{
	xmlNodePtr	c = child(parent, name);
	xmlChar    *t;
	char	   *s;

	if (c == NULL || (t = xmlNodeGetContent(c)) == NULL)
		return NULL;
	s = strdup((const char *) t);
	xmlFree(t);
	return s;
}

int
s3xml_error(const char *body, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
	xmlDocPtr	doc = parse(body, len);
	xmlNodePtr	root = doc ? xmlDocGetRootElement(doc) : NULL;
	int			err = STRATA_EPROTO;

	if (codelen > 0)
		code[0] = '\0';
	if (msglen > 0)
		msg[0] = '\0';
	if (root && named(root, "Error") && child_text(root, "Code", code, codelen) == 0)
	{
		(void) child_text(root, "Message", msg, msglen);	/* optional */
		err = 0;
	}
	xmlFreeDoc(doc);
	return err;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	uint64_t	x = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t) (*s - '0');
	}
	*v = x;
	return 0;
}

static int
add_entry(struct s3xml_list *l, size_t *cap, xmlNodePtr contents)
{
	char		sizebuf[32];
	char	   *key;
	uint64_t	size;

	if (child_text(contents, "Size", sizebuf, sizeof(sizebuf)) != 0 ||
		parse_u64(sizebuf, &size) != 0)
		return STRATA_EPROTO;
	if ((key = child_strdup(contents, "Key")) == NULL || key[0] == '\0')
	{
		free(key);
		return STRATA_EPROTO;
	}
	if (l->n == *cap)
	{
		size_t		ncap = *cap ? *cap * 2 : 64;
		struct s3xml_entry *e = realloc(l->entries, ncap * sizeof(*e));

		if (e == NULL)
		{
			free(key);
			return STRATA_ENOMEM;
		}
		l->entries = e;
		*cap = ncap;
	}
	l->entries[l->n].key = key;
	l->entries[l->n++].size = size;
	return 0;
}

int
s3xml_list_parse(const char *body, size_t len, struct s3xml_list *out)
{
	xmlDocPtr	doc = parse(body, len);
	xmlNodePtr	root = doc ? xmlDocGetRootElement(doc) : NULL;
	char		trunc[16];
	size_t		cap = 0;
	int			err = 0;

	memset(out, 0, sizeof(*out));
	if (root == NULL || !named(root, "ListBucketResult"))
		err = STRATA_EPROTO;
	for (xmlNodePtr c = root ? root->children : NULL; c && err == 0; c = c->next)
		if (named(c, "Contents"))
			err = add_entry(out, &cap, c);
	if (err == 0 && child_text(root, "IsTruncated", trunc, sizeof(trunc)) == 0)
	{
		if (strcmp(trunc, "true") == 0)
			out->truncated = 1;
		else if (strcmp(trunc, "false") != 0)
			err = STRATA_EPROTO;
	}
	if (err == 0 && out->truncated)
	{
		out->next_token = child_strdup(root, "NextContinuationToken");
		if (out->next_token == NULL || out->next_token[0] == '\0')
			err = STRATA_EPROTO;
	}
	xmlFreeDoc(doc);
	if (err != 0)
		s3xml_list_free(out);
	return err;
}

void
s3xml_list_free(struct s3xml_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i].key);
	free(l->entries);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int
s3xml_upload_id(const char *body, size_t len, char *id, size_t idlen)
{
	xmlDocPtr	doc = parse(body, len);
	xmlNodePtr	root = doc ? xmlDocGetRootElement(doc) : NULL;
	int			err = STRATA_EPROTO;

	if (idlen > 0)
		id[0] = '\0';
	if (root && named(root, "InitiateMultipartUploadResult") &&
		child_text(root, "UploadId", id, idlen) == 0 && id[0] != '\0' &&
		strlen(id) + 1 < idlen)
		err = 0;
	else if (idlen > 0)
		id[0] = '\0';
	xmlFreeDoc(doc);
	return err;
}

int
s3xml_delete_result(const char *body, size_t len, char *key, size_t keylen, char *code,
					size_t codelen, char *msg, size_t msglen)
{
	xmlDocPtr	doc = parse(body, len);
	xmlNodePtr	root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNodePtr	e;
	int			err = STRATA_EPROTO;

	if (keylen > 0)
		key[0] = '\0';
	if (codelen > 0)
		code[0] = '\0';
	if (msglen > 0)
		msg[0] = '\0';
	if (root && named(root, "DeleteResult"))
	{
		err = 0;
		if ((e = child(root, "Error")) != NULL)
		{
			(void) child_text(e, "Key", key, keylen);	/* each may be missing */
			(void) child_text(e, "Code", code, codelen);
			(void) child_text(e, "Message", msg, msglen);
			err = STRATA_EREMOTE;
		}
	}
	xmlFreeDoc(doc);
	return err;
}

int
s3xml_root_is(const char *body, size_t len, const char *name)
{
	xmlDocPtr	doc = parse(body, len);
	xmlNodePtr	root = doc ? xmlDocGetRootElement(doc) : NULL;
	int			yes = root != NULL && named(root, name);

	xmlFreeDoc(doc);
	return yes;
}

int
s3xml_append(char **buf, size_t *len, size_t *cap, const char *s, int escape)
{
	for (; *s; s++)
	{
		const char *rep = NULL;
		char		one[2] = {*s, '\0'};
		size_t		n;

		if (escape)
			rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" :
				*s == '"' ? "&quot;" : *s == '\'' ? "&apos;" : NULL;
		if (rep == NULL)
			rep = one;
		n = strlen(rep);
		if (*len + n + 1 > *cap)
		{
			size_t		ncap = *cap ? *cap * 2 : 1024;
			char	   *b;

			while (ncap < *len + n + 1)
				ncap *= 2;
			if ((b = realloc(*buf, ncap)) == NULL)
				return STRATA_ENOMEM;
			*buf = b;
			*cap = ncap;
		}
		memcpy(*buf + *len, rep, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
	return 0;
}
