"""Teichaku (定着): a multi-tenant platform for Japan's 地域生活定着支援センター.

The code lives in one named package so that its ``platform`` sub-package never shadows
Python's standard-library ``platform`` module (see README, "Why one package").
"""
