@issue-1
Feature: Shopping on the sample app
  As a shopper I want to sign up and browse products so that I can buy tea.

  Rule: Visitors can sign up

    Background:
      Given I am on "/signup"

    Example: Signing up with the classic web steps
      When I fill in "Name" with "Ann"
      And I fill in "Email" with "ann@example.com"
      And I select "Pro" from "Plan"
      And I check "I accept the terms"
      And I uncheck "Send me news"
      And I press "Create account"
      Then I should see "Welcome, Ann!"
      And I should be on "/welcome"
      And the URL should contain "plan=Pro"
      And I should not see "news: on"

    Example: Signing up by filling in the form from a table
      When I fill in the form with:
        | Name       | Bob             |
        | Email      | bob@example.com |
        | Your city  | Lyon            |
      And I fill in "About you" with:
        """
        I like green tea.
        And black tea.
        """
      Then the "Name" field should contain "Bob"
      And the "Your city" field should have the value "Lyon"
      And the "Send me news" checkbox should be checked
      And the "I accept the terms" checkbox should not be checked
      When I click the "Create account" button
      Then the "Your details" list should contain:
        | city: Lyon |
        | name: Bob  |

    Scenario Outline: Every plan can be chosen
      When I fill in "Name" with "<name>"
      And I select "<plan>" from "Plan"
      And I click "Create account"
      Then I should see "plan: <plan>" within "Your details"

      Examples:
        | name | plan |
        | Cy   | Free |
        | Di   | Team |

  Rule: Shoppers can browse and search products

    Example: Browsing products from the home page
      Given I am on the home page
      Then I should see "Spring sale" within "News"
      And I should not see "Spring sale" within "Help"
      And I should not see "Secret hidden text"
      When I follow "Products"
      Then the URL should be "/products"
      And the "Products" table should contain:
        | Name   | Price |
        | Tea    | 3.50  |
        | Cocoa  | 2.80  |
      And the "Categories" list should contain:
        | Coffee |
        | Cocoa  |

    Example: Searching with the keyboard
      Given I visit "/search"
      When I enter "green tea" in "Search products"
      And I press the "Enter" key
      Then I should see "Results for green tea"
      And the URL should contain "q=green+tea"

    Example: Clicking buttons and waiting for slow text
      Given I go to "/"
      When I click "Say hello"
      Then I see "Clicked!"
      When I open "/slow"
      And I wait for "Loaded at last"
      And I click the "Search" link
      Then I am taken to "/search"
