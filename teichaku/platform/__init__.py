"""Platform core: app factory, configuration, extensions, tenancy, auth, audit."""
