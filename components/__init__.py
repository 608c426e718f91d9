"""acr-pipeline components: settings, the workflow renderer and the three ComponentResources."""
