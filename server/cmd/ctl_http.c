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
#include <unistd.h>

char *
ctl_http_request(const char *addr, const char *method, const char *path,
				 const char *body, int *status)
{
	char		host[128];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0},
			   *ai;
	int			fd;
	char		req[1024];
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	char	   *start;
	size_t		blen = body ? strlen(body) : 0;

	*status = 0;
	if (colon == NULL || colon - addr >= (long) sizeof(host))
		return NULL;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return NULL;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
	{
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n", method, path, addr, blen);
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

char *
ctl_http_get(const char *addr, const char *path)
{
	int			status;
	char	   *body = ctl_http_request(addr, "GET", path, NULL, &status);

	if (body != NULL && status != 200)
	{
		free(body);
		return NULL;
	}
	return body;
}
