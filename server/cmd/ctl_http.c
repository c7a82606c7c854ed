/*-------------------------------------------------------------------------
 *
 * ctl_http.c
 *	  Blocking HTTP/1.0 requests for stratactl (see ctl_http.h).
 *
 * HTTP/1.0 so the server closes the connection after the reply, and the
 * body is simply everything after the blank line.
 *
 *-------------------------------------------------------------------------
 */
#include "ctl_http.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "secret.h"

static char token[SECRET_MAX];	/* sent as a bearer token if set */

void
ctl_http_set_token(const char *t)
{
	snprintf(token, sizeof(token), "%s", t);
}

/* A connected socket to addr ("HOST:PORT" or "unix:PATH"), or -1. */
static int
connect_to(const char *addr)
{
	char		host[128];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0},
			   *ai;
	int			fd;

	if (strncmp(addr, "unix:", 5) == 0)
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr + 5) >= (int) sizeof(sun.sun_path) ||
			(fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0)
		{
			close(fd);
			return -1;
		}
		return fd;
	}
	if (colon == NULL || colon - addr >= (long) sizeof(host))
		return -1;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
	{
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

char *
ctl_http_request(const char *addr, const char *method, const char *path,
				 const char *body, int *status)
{
	int			fd;
	char		req[1024 + SECRET_MAX];
	char		auth[SECRET_MAX + 32] = "";
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	char	   *start;
	size_t		blen = body ? strlen(body) : 0;

	*status = 0;
	if ((fd = connect_to(addr)) < 0)
		return NULL;
	if (token[0] != '\0')
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n", method, path,
			 strncmp(addr, "unix:", 5) == 0 ? "localhost" : addr, auth, blen);
	if (write(fd, req, strlen(req)) != (ssize_t) strlen(req) ||
		(blen > 0 && write(fd, body, blen) != (ssize_t) blen))
	{
		close(fd);
		return NULL;
	}
	for (;;)
	{
		ssize_t		n;

		if (len + 4096 + 1 > cap)
		{
			char	   *nb;

			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(buf, cap)) == NULL)
			{
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t) n;
	}
	close(fd);
	memset(req, 0, sizeof(req));
	if (buf == NULL)
		return NULL;
	buf[len] = '\0';
	start = strstr(buf, "\r\n\r\n");
	if (start == NULL || strncmp(buf, "HTTP/1.", 7) != 0)
	{
		free(buf);
		return NULL;
	}
	*status = atoi(buf + 9);
	memmove(buf, start + 4, strlen(start + 4) + 1);
	return buf;
}
