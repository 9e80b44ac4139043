"""Exit 0 when PostgreSQL answers at the URL given (its server; the database itself need not exist), else 1.
`make benchmark` runs the PostgreSQL pass only then."""
import sys

import environ
import psycopg


def main(url: str) -> int:
    config = environ.Env.db_url_config(url)
    try:
        psycopg.connect(host=config.get("HOST") or None, port=config.get("PORT") or None, user=config.get("USER") or None,
                        password=config.get("PASSWORD") or None, dbname="postgres", connect_timeout=3).close()
    except psycopg.Error:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
