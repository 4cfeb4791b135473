"""Deploying imgrec to an AWS account as one CloudFormation stack, and removing it again.

* ``stack.yaml``: the template (buckets, queues, IAM, network, launch template, Auto Scaling group,
  optional controller), shipped as package data;
* ``stack.py``: reading the template, the stack's state and outputs, waiting with progress;
* ``settings.py``: the stack's outputs as imgrec settings, written into the user's config file;
* ``deploy.py``: ``imgrec deploy``, create or update through a change set;
* ``teardown.py``: ``imgrec teardown``, everything of the deployment removed, the stack last;
* ``commands.py``: the two commands' handlers.
"""
